package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

func TestIdentity(t *testing.T) {
	cfg := testSliver(t, "orbistest-id", 200000)
	out, code := run(t, cfg, "hostname; id -u; cat /proc/self/uid_map")
	f := strings.Fields(out)
	if code != 0 || len(f) != 5 || f[0] != cfg.Name || f[1] != "0" || f[2] != "0" || f[3] != "200000" || f[4] != "65536" {
		t.Fatalf("code %d, output %q: want hostname, uid 0 and map 0 200000 65536", code, out)
	}
}

// TestNoHostMounts checks the host's tree is gone from the sliver's mount
// namespace: only the overlay, proc and /dev remain, and "/.." is "/".
func TestNoHostMounts(t *testing.T) {
	cfg := testSliver(t, "orbistest-mnt", 200000)
	out, _ := run(t, cfg, `stat -c %i / /..; awk '{i=7; while ($i != "-") i++; print $5, $(i+1)}' /proc/self/mountinfo`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != lines[1] {
		t.Fatalf("/ and /.. differ (the host root is reachable):\n%s", out)
	}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("mountinfo line %q", l)
		}
		ok := f[0] == "/" && f[1] == "overlay" || f[0] == "/proc" && f[1] == "proc" ||
			strings.HasPrefix(f[0], "/dev")
		if !ok {
			t.Errorf("unexpected mount in the sliver: %s", l)
		}
	}
}

// TestNoLeakedFDs checks a command gets its stdio and nothing of the
// init's (its control socket least of all).
func TestNoLeakedFDs(t *testing.T) {
	cfg := testSliver(t, "orbistest-fds", 200000)
	p, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"sleep", "30"}}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Signal(syscall.SIGKILL); p.Wait() }()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.Pid))
	if err != nil || len(ents) != 3 {
		out, _ := exec.Command("ls", "-l", fmt.Sprintf("/proc/%d/fd/", p.Pid)).CombinedOutput()
		t.Errorf("command's fds (%v), want 0, 1 and 2 only:\n%s", err, out)
	}
}

func TestHostView(t *testing.T) {
	cfg := testSliver(t, "orbistest-host", 300000)
	p, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"sleep", "30"}}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if uid := hostUID(t, p.Pid); uid != 300000 {
		t.Errorf("command runs as host uid %d, want 300000", uid)
	}
	if out, code := run(t, cfg, "echo data > /newfile && echo x > /bin/newfile && rm /etc/hostname"); code != 0 {
		t.Fatalf("writes exited %d: %s", code, out)
	}
	st, err := os.Lstat(filepath.Join(cfg.Upper, "newfile"))
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != 300000 {
		t.Errorf("upper/newfile: %v %v, want a file owned by 300000", st, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Image, "bin/newfile")); err == nil {
		t.Error("a write in the sliver reached the image")
	}
	if _, err := os.Stat(filepath.Join(cfg.Image, "etc/hostname")); err != nil {
		t.Errorf("a delete in the sliver reached the image: %v", err)
	}
	p.Signal(syscall.SIGKILL)
	if code, err := p.Wait(); err != nil || code != 128+9 {
		t.Errorf("killed command: code %d, err %v", code, err)
	}
}

func hostUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	return -1
}

// TestConfinement checks what a sliver's root must not be able to do.
func TestConfinement(t *testing.T) {
	cfg := testSliver(t, "orbistest-conf", 400000)
	host := exec.Command("sleep", "30")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("host secret"), 0o644)
	tests := []struct{ name, script string }{
		{"see host process", fmt.Sprintf("test -e /proc/%d", host.Process.Pid)},
		{"kill host process", fmt.Sprintf("kill -9 %d", host.Process.Pid)},
		{"load module", "echo x > /tmp/m.ko && insmod /tmp/m.ko"},
		{"mknod", "mknod /tmp/null c 1 3"},
		{"mount tmpfs", "mkdir -p /mnt && mount -t tmpfs none /mnt"},
		{"bind root", "mkdir -p /mnt && mount --bind / /mnt"},
		{"host disk", "test -e /dev/vda || test -e /dev/sda"},
		{"read host file", "cat " + secret},
		{"nested user namespace", "unshare -U true"},
		{"set clock", "date -s 2000-01-01 2>&1 | grep -q 'not permitted' && exit 1 || exit 0"},
		{"sysrq", "echo h > /proc/sysrq-trigger"},
		{"reach init's binary", "readlink /proc/1/exe || cat /proc/1/exe > /dev/null"},
		{"write init's binary", "echo x >> /proc/1/exe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := run(t, cfg, tt.script)
			t.Logf("exit %d: %s", code, out)
			if code == 0 {
				t.Errorf("%q succeeded in the sliver: %s", tt.script, out)
			}
		})
	}
	if err := host.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("host process died: %v", err)
	}
	status := func(uid uint32) string {
		out, _ := runCmd(t, cfg, Cmd{Args: []string{"grep", "-E", "^(CapEff|CapBnd|NoNewPrivs|Seccomp):", "/proc/self/status"}, UID: uid, GID: uid})
		return strings.Join(strings.Fields(out), " ")
	}
	want := fmt.Sprintf("CapEff: %016x CapBnd: %016x NoNewPrivs: 1 Seccomp: 2", KeptCaps(), KeptCaps())
	if got := status(0); got != want {
		t.Errorf("sliver root: %s\nwant %s", got, want)
	}
	if got := status(1000); !strings.Contains(got, "CapEff: 0000000000000000") {
		t.Errorf("uid 1000: %s, want no effective capability", got)
	}
}

func TestTwoSlivers(t *testing.T) {
	a := testSliver(t, "orbistest-a", 500000)
	b := testSliver(t, "orbistest-b", 600000)
	if _, code := run(t, a, "echo mine > /secret && chmod 600 /secret"); code != 0 {
		t.Fatal("write secret")
	}
	pa, err := Start(testutil.Context(t), a, Cmd{Args: []string{"sleep", "30"}}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { pa.Signal(syscall.SIGKILL); pa.Wait() }()
	out, code := run(t, b, "cat /secret; cat /proc/*/root/secret; ps -o args | grep -v grep | grep 'sleep 30'")
	if code == 0 || strings.Contains(out, "mine") {
		t.Errorf("sliver b reached sliver a: %q", out)
	}
	st, err := os.Stat(filepath.Join(a.Upper, "secret"))
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != 500000 || st.Mode().Perm() != 0o600 {
		t.Errorf("a's secret on the host: %v %v", st, err)
	}
}

func TestExecJoins(t *testing.T) {
	cfg := testSliver(t, "orbistest-join", 700000)
	if _, err := Exec(testutil.Context(t), cfg, Cmd{Args: []string{"true"}}, testutil.Logger(t)); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("exec in a stopped sliver: %v, want ErrNotRunning", err)
	}
	p, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"sleep", "30"}}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.Signal(syscall.SIGKILL); p.Wait() }()
	initPid, ok := InitPid(cfg)
	if !ok {
		t.Fatal("no init after Start")
	}
	var out strings.Builder
	q, err := Exec(testutil.Context(t), cfg, Cmd{Args: []string{"sh", "-c", "hostname; ps -o pid,args; grep CapEff /proc/self/status"}, Stdout: &out}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if code, err := q.Wait(); code != 0 || err != nil {
		t.Fatalf("exec: %d %v", code, err)
	}
	got := out.String()
	if !strings.HasPrefix(got, cfg.Name+"\n") || !strings.Contains(got, "sleep 30") ||
		!strings.Contains(got, fmt.Sprintf("%016x", KeptCaps())) {
		t.Errorf("exec output:\n%s\nwant the hostname, the running sleep and dropped capabilities", got)
	}
	if pid, _ := InitPid(cfg); pid != initPid {
		t.Errorf("init changed from %d to %d", initPid, pid)
	}
}

// TestIdle checks that a sliver whose commands have exited holds no
// process, and that the next Start brings it back with its files.
func TestIdle(t *testing.T) {
	cfg := testSliver(t, "orbistest-idle", 800000)
	if _, code := run(t, cfg, "echo kept > /root/file"); code != 0 {
		t.Fatal("write")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, running := InitPid(cfg)
		procs := hostProcsOf(t, 800000)
		if !running && len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sliver still holds processes %v (init running: %v)", procs, running)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if out, code := run(t, cfg, "cat /root/file"); code != 0 || out != "kept\n" {
		t.Errorf("after restart: %q %d", out, code)
	}
}

// hostProcsOf lists host pids whose real uid is uid.
func hostProcsOf(t *testing.T, uid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil &&
			strings.Contains(string(b), fmt.Sprintf("\nUid:\t%d\t", uid)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestPlantedSymlinks checks that symlinks a sliver leaves in its upper
// layer (or in place of it) never make Prepare or Start touch host paths.
func TestPlantedSymlinks(t *testing.T) {
	cfg := testSliver(t, "orbistest-sym", 900000)
	hostDir := t.TempDir()
	os.Symlink(hostDir, filepath.Join(cfg.Upper, "etc"))
	os.Symlink(hostDir, filepath.Join(cfg.Upper, "tmp"))
	if err := Prepare(cfg); err != nil {
		t.Fatal(err)
	}
	run(t, cfg, "echo pwned > /etc/pwned; echo pwned > /tmp/pwned; echo pwned > "+hostDir+"/pwned")
	os.Remove(filepath.Join(cfg.Upper, "etc"))
	os.Symlink(hostDir, filepath.Join(cfg.Upper, "dev"))
	if p, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"true"}}, testutil.Logger(t)); err == nil {
		p.Wait()
		t.Error("started with /dev a symlink")
	}
	ents, _ := os.ReadDir(hostDir)
	if st, _ := os.Stat(hostDir); len(ents) != 0 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("host dir touched: %d entries, owner %d", len(ents), st.Sys().(*syscall.Stat_t).Uid)
	}
	// The sliver cannot replace upper itself, but if upper were a symlink,
	// Prepare would refuse it rather than chown its target.
	os.RemoveAll(cfg.Upper)
	os.Symlink(hostDir, cfg.Upper)
	if err := Prepare(cfg); err == nil {
		t.Error("Prepare accepted a symlink as upper")
	}
	if st, _ := os.Stat(hostDir); st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Error("Prepare chowned a symlink's target")
	}
}

func BenchmarkStart(b *testing.B) {
	testutil.RequireRoot(b)
	dir := b.TempDir()
	cfg := Config{Name: "orbistest-bench", Image: testImage(b), Upper: dir + "/upper", Work: dir + "/work",
		RunDir: dir + "/run", UIDBase: 1000000, UIDCount: 65536}
	if err := Prepare(cfg); err != nil {
		b.Fatal(err)
	}
	log := testutil.Logger(b)
	var times []time.Duration
	for b.Loop() {
		t0 := time.Now()
		p, err := Start(testutil.Context(b), cfg, Cmd{Args: []string{"/bin/true"}}, log)
		if err != nil {
			b.Fatal(err)
		}
		if code, err := p.Wait(); code != 0 || err != nil {
			b.Fatal(code, err)
		}
		times = append(times, time.Since(t0))
		waitIdle(b, cfg)
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
}

// TestRunShare: the node's run directory shows read-only at /run/orbis,
// and a socket there accepts connections from the sliver's users.
func TestRunShare(t *testing.T) {
	cfg := testSliver(t, "orbistest-share", 200000)
	cfg.RunShare = t.TempDir()
	if err := os.Chmod(cfg.RunShare, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.RunShare, "hello"), []byte("from the node\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run(t, cfg, "cat /run/orbis/hello; touch /run/orbis/x 2>/dev/null && echo WROTE; grep ' /run/orbis ' /proc/self/mountinfo | grep -c ' ro,'")
	if code != 0 || out != "from the node\n1\n" {
		t.Fatalf("code %d, output %q: want the host file, no write, one read-only mount", code, out)
	}
}

// TestShares: a share shows read-only, nosuid, nodev and noexec at its
// target beside /run/orbis; a sliver that planted a symlink where the
// mount point goes is refused rather than followed; bad targets are
// refused before anything starts.
func TestShares(t *testing.T) {
	cfg := testSliver(t, "orbistest-shares", 200000)
	cfg.RunShare = t.TempDir()
	nm := t.TempDir()
	for _, d := range []string{cfg.RunShare, nm} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(nm, "hello"), []byte("nm\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Shares = []Share{{Source: nm, Target: "/run/orbis-nm"}}
	out, code := run(t, cfg, "cat /run/orbis-nm/hello; touch /run/orbis-nm/x 2>/dev/null && echo WROTE; /run/orbis-nm/hello 2>/dev/null && echo EXECUTED; "+
		"grep ' /run/orbis-nm ' /proc/self/mountinfo | grep ' ro,' | grep nosuid | grep nodev | grep -c noexec; ls /run/orbis >/dev/null && echo RUNSHARE")
	if code != 0 || out != "nm\n1\nRUNSHARE\n" {
		t.Fatalf("code %d, output %q: want the host file, no write, no exec, one ro/nosuid/nodev/noexec mount, and /run/orbis", code, out)
	}

	// Without the share the target is an empty directory of the sliver's.
	cfg.Shares = nil
	waitIdle(t, cfg)
	if out, _ := run(t, cfg, "ls -A /run/orbis-nm; rmdir /run/orbis-nm && ln -s /etc /run/orbis-nm && echo PLANTED"); out != "PLANTED\n" {
		t.Fatalf("without the share: %q", out)
	}
	waitIdle(t, cfg)
	cfg.Shares = []Share{{Source: nm, Target: "/run/orbis-nm"}}
	if _, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"/bin/true"}}, testutil.Logger(t)); err == nil || !strings.Contains(err.Error(), "orbis-nm") {
		t.Fatalf("start over a planted symlink: %v, want a refusal naming /run/orbis-nm", err)
	}

	for _, target := range []string{"run/x", "/run/orbis/nm", "/run/orbis", "/proc/x", "/", "/run/../etc"} {
		bad := cfg
		bad.Shares = []Share{{Source: nm, Target: target}}
		if err := bad.Validate(); err == nil {
			t.Errorf("target %q accepted", target)
		}
	}
}

// TestCgroupNamespace puts a sliver's init in cgroups of its own, in the
// cgroup v2 tree (the only one on a pure v2 node) and in the v1 memory
// hierarchy when the node has one (hybrid), and checks that the sliver
// sees "/" in every hierarchy: never the host's path, which names the
// sliver's own group and the node's.
func TestCgroupNamespace(t *testing.T) {
	cfg := testSliver(t, "orbistest-cgns", 420000)
	name := fmt.Sprintf("orbistest-cgns-%d", os.Getpid())
	var dirs []string
	for _, h := range cgroupHierarchies(t) {
		dir := filepath.Join(h, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(dir) })
		dirs = append(dirs, dir)
	}
	cfg.EnterCgroup = func(pid int) error {
		for _, d := range dirs {
			if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	p, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"sleep", "30"}}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	host, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.Pid))
	if err != nil || strings.Count(string(host), "/"+name) != len(dirs) {
		t.Fatalf("the host sees the sliver in %q (%v), want %d cgroups named %s", host, err, len(dirs), name)
	}
	out, code := run(t, cfg, "cat /proc/self/cgroup /proc/1/cgroup")
	if code != 0 || out == "" {
		t.Fatalf("cat /proc/self/cgroup: %d %s", code, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("the sliver sees cgroup %q, want only \"/\" paths", line)
		}
	}
	p.Signal(syscall.SIGKILL)
	p.Wait()
	waitIdle(t, cfg)
}

// cgroupHierarchies are the mount points of the cgroup v2 tree and of the
// v1 memory hierarchy, if mounted.
func cgroupHierarchies(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 {
			continue
		}
		v1mem := g[0] == "cgroup" && slices.Contains(strings.Split(g[2], ","), "memory")
		if (g[0] == "cgroup2" || v1mem) && !slices.Contains(out, f[4]) {
			out = append(out, f[4])
		}
	}
	if len(out) == 0 {
		t.Fatal("no cgroup hierarchy mounted")
	}
	return out
}
