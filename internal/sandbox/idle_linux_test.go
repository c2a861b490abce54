package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/testutil"
)

// maxIdleAnon bounds an idle init's private memory (a Go init held about
// 850 KiB).
const maxIdleAnon = 128 << 10

// waitIdleForm waits until the init pid runs the idle program.
func waitIdleForm(t *testing.T, pid int) {
	t.Helper()
	idle := fmt.Sprintf("fd/%d", idleProgFD)
	deadline := time.Now().Add(5 * time.Second)
	for inode(t, pid, "exe") != inode(t, pid, idle) {
		if time.Now().After(deadline) {
			link, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			t.Fatalf("init %d still runs %s, not the idle program", pid, link)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// procValue returns a field of /proc/pid/file (status, smaps_rollup).
func procValue(t *testing.T, pid int, file, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no %s in /proc/%d/%s", field, pid, file)
	return 0
}

// TestInitTurnsIdle checks the idle form of a running sliver's init: it
// holds a few pages and one thread; a command started then (the idle
// program hands back to the Go init) runs as confined as the first, with
// the sliver's rlimits and no fd of the init's, and its exit status comes
// back; the raw socket
// listener survives both forms; the idle program reports the first
// command's exit, and the init exits once no process is left.
func TestInitTurnsIdle(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testSliver(t, "orbistest-idle", 500000)
	cfg.Rlimits = []Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: 321, Hard: 654}}
	listeners := make(chan *os.File, 1)
	if RawNotifySupported() {
		cfg.RawSockets = func(f *os.File) { listeners <- f }
	}
	p, pid := startIn(t, cfg, Cmd{Args: []string{"sleep", "60"}})
	waitIdleForm(t, pid)
	requireSealedProgram(t, pid)
	if anon := procValue(t, pid, "smaps_rollup", "Pss_Anon") << 10; anon > maxIdleAnon {
		t.Errorf("the idle init holds %d KiB of its own, want at most %d", anon>>10, maxIdleAnon>>10)
	}
	if n := procValue(t, pid, "status", "Threads"); n != 1 {
		t.Errorf("the idle init has %d threads, want 1", n)
	}

	// Twice: the second command comes after a round trip of the init
	// that the idle program started.
	for range 2 {
		out, code := run(t, cfg, "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; cut -d: -f3 /proc/self/cgroup | sort -u; ls /proc/self/fd; grep 'open files' /proc/self/limits; exit 3")
		if code != 3 {
			t.Errorf("the command exited %d, want 3: %s", code, out)
		}
		want := fmt.Sprintf("CapEff: %016x CapBnd: %016x NoNewPrivs: 1 Seccomp: 2 / 0 1 2 3 Max open files 321 654 files", KeptCaps(), KeptCaps())
		if got := strings.Join(strings.Fields(out), " "); got != want {
			t.Errorf("a command started through the idle init: %s\nwant %s", got, want)
		}
		if again, ok := InitPid(cfg); !ok || again != pid {
			t.Fatalf("the command had init %d (running %v), want %d", again, ok, pid)
		}
		waitIdleForm(t, pid)
	}

	if cfg.RawSockets != nil {
		first := <-listeners
		defer first.Close()
		again, err := RawListener(testutil.Context(t), cfg)
		if err != nil {
			t.Fatalf("raw socket listener of the idle init: %v", err)
		}
		defer again.Close()
		var a, b unix.Stat_t
		unix.Fstat(int(first.Fd()), &a)
		unix.Fstat(int(again.Fd()), &b)
		if a.Ino != b.Ino {
			t.Errorf("the init's raw socket listener changed (inode %d, then %d)", a.Ino, b.Ino)
		}
		waitIdleForm(t, pid)
	}

	p.Signal(syscall.SIGKILL)
	if code, err := p.Wait(); err != nil || code != 128+int(syscall.SIGKILL) {
		t.Errorf("the first command's exit through the idle init: %d, %v; want %d", code, err, 128+int(syscall.SIGKILL))
	}
	waitIdle(t, cfg)
}

// TestIdleInitAttacked has the sliver's root attack its init while the
// init is idle: read its memory, environment and fds, reach its binary,
// kill it. Each must fail, and the init must go on serving.
func TestIdleInitAttacked(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testSliver(t, "orbistest-idleattack", 600000)
	attacks := []struct{ name, script string }{
		{"read init's memory", "head -c 1 /proc/1/mem"},
		{"read init's environment", "cat /proc/1/environ"},
		{"list init's fds", "ls /proc/1/fd"},
		{"open init's fd", "cat /proc/1/fd/5 > /dev/null"},
		{"reach init's binary", "readlink /proc/1/exe || cat /proc/1/exe > /dev/null"},
		{"write init's binary", "echo x >> /proc/1/exe"},
		{"join init's namespaces", "readlink /proc/1/ns/mnt"},
	}
	var script strings.Builder
	script.WriteString("attack() {\n")
	for _, a := range attacks {
		fmt.Fprintf(&script, "  (%s) >/dev/null 2>&1; echo \"%s: $?\"\n", a.script, a.name)
	}
	script.WriteString("  kill -9 1; kill -STOP 1; exit 0\n}\ntrap attack USR1\nwhile :; do sleep 0.05; done\n")
	var out bytes.Buffer
	p, pid := startIn(t, cfg, Cmd{Args: []string{"/bin/sh", "-c", script.String()}, Stdout: &out, Stderr: &out})
	waitIdleForm(t, pid)
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("the attacker exited %d, %v: %s", code, err, out.String())
	}
	for _, a := range attacks {
		if !strings.Contains(out.String(), a.name+": ") {
			t.Errorf("%s: not attempted: %s", a.name, out.String())
		} else if strings.Contains(out.String(), a.name+": 0\n") {
			t.Errorf("%s: %q succeeded against the idle init", a.name, a.script)
		}
	}
	if again, ok := InitPid(cfg); !ok || again != pid {
		t.Fatalf("after the attack the init is %d (running %v), want %d", again, ok, pid)
	}
	if _, code := run(t, cfg, "true"); code != 0 {
		t.Errorf("the init serves no more after the attack: true exited %d", code)
	}
}
