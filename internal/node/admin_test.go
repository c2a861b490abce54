package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

const adminNodeEntry = "orbis-test-node-admin"

func init() {
	reexec.Register(adminNodeEntry, func() {
		err := Run(context.Background(), Config{StateDir: os.Args[1], NMSocket: os.Args[2], CgroupParent: os.Args[3],
			Uplink: os.Args[4], SniffGroup: uint16(1000 + os.Getpid()%30000), Log: testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

// TestAdminSlice: in a node with real slivers, the admin slice's sliver
// lists the slivers' processes with /usr/bin/orbis-admin (and cannot list,
// stop or kill a host process), kills a
// runaway loop in another slice's sliver, caps the node's rate and sees
// the cap applied, and still cannot read the other sliver's files; a
// slice without the privilege has no /run/orbis-admin; the operator reads
// who did what with `orbis admin log`.
func TestAdminSlice(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	state := t.TempDir()
	buildAdminImage(t, state)
	uplink := dummyLink(t)
	tn := &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-admin-%d", os.Getpid())}
	startAdminNode(t, tn, uplink)
	t.Cleanup(func() { cleanupNode(t, tn) })

	bindRspec(t, tn, "pl_adm", api.Rspec{Privileges: api.Privileges{CreateSliver: true, Admin: true}}, "exec sleep 1000")
	bindRspec(t, tn, "pl_victim", api.Rspec{Privileges: api.Privileges{CreateSliver: true}}, "sleep 1000 & while :; do :; done")
	bindRspec(t, tn, "pl_plain", api.Rspec{Privileges: api.Privileges{CreateSliver: true}}, "exec sleep 1000")
	waitUntilFor(t, "slivers running", 15*time.Second, func() bool {
		loop, sleeper := runawayOf(tn)
		return loop != 0 && sleeper != 0 && len(procsIn(tn, "pl_adm")) > 0
	}, func() string {
		l, err := tn.client.List(ctx)
		return fmt.Sprintf("pl_victim %v, pl_adm %v; node: %+v %v", procsIn(tn, "pl_victim"), procsIn(tn, "pl_adm"), l.Slivers, err)
	})
	n, err := Open(ctx, Config{StateDir: state, CgroupParent: tn.cgroups, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	in := func(sliver string, args ...string) (string, error) {
		var out bytes.Buffer
		p, err := n.Slivers.Exec(ctx, sliver, sandbox.Cmd{Args: args, Stdout: &out, Stderr: &out})
		if err != nil {
			t.Fatal(err)
		}
		code, err := p.Wait()
		if err == nil && code != 0 {
			err = fmt.Errorf("exit status %d", code)
		}
		return out.String(), err
	}

	loop, sleeper := runawayOf(tn)
	out, err := in("pl_adm", "/usr/bin/orbis-admin", "ps")
	if row := findPSRow(out, loop); err != nil || row == nil || row[3] != "pl_victim" {
		t.Fatalf("ps in the admin sliver: %v; no row of the runaway %d of pl_victim:\n%s", err, loop, out)
	}
	if out, err := in("pl_adm", "/usr/bin/orbis-admin", "kill", strconv.Itoa(loop), "KILL"); err != nil || !strings.Contains(out, "sent SIGKILL") {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	waitUntil(t, "the runaway gone", func() bool { return !contains(procsIn(tn, "pl_victim"), loop) })
	if !contains(procsIn(tn, "pl_victim"), sleeper) {
		t.Error("the kill hit more than the runaway")
	}
	// Host processes are not the admin slice's: this test's process stands
	// for another node's agent on the machine, a root sleep for any host
	// daemon. Neither is listed, stopped nor killed.
	host := exec.Command("sleep", "1000")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	for _, c := range [][2]string{{strconv.Itoa(os.Getpid()), "STOP"}, {strconv.Itoa(host.Process.Pid), "KILL"}} {
		if out, err := in("pl_adm", "/usr/bin/orbis-admin", "kill", c[0], c[1]); err == nil || !strings.Contains(out, "not a sliver's process") {
			t.Errorf("the admin slice's kill -%s of host pid %s: %v\n%s", c[1], c[0], err, out)
		}
	}
	if err := host.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the host process died: %v", err)
	}
	if out, _ := in("pl_adm", "/usr/bin/orbis-admin", "ps"); findPSRow(out, host.Process.Pid) != nil || findPSRow(out, os.Getpid()) != nil {
		t.Errorf("the admin slice's ps lists host processes:\n%s", out)
	}

	if out, err := in("pl_adm", "/usr/bin/orbis-admin", "bwcap", "10mbit"); err != nil || !strings.HasPrefix(out, "10mbit") {
		t.Fatalf("bwcap 10mbit: %v\n%s", err, out)
	}
	waitUntilFor(t, "the cap applied", 15*time.Second, func() bool {
		out, _ := in("pl_adm", "/usr/bin/orbis-admin", "bwcap")
		return strings.TrimSpace(out) == "10mbit, applied"
	})
	if tc, _ := exec.Command("tc", "class", "show", "dev", uplink).Output(); !strings.Contains(string(tc), "rate 10Mbit") {
		t.Errorf("tc classes of %s do not show the 10mbit cap:\n%s", uplink, tc)
	}

	// watch: a connection attempt from pl_victim shows, with its slice.
	watched := make(chan string, 1)
	go func() {
		out, err := in("pl_adm", "/usr/bin/orbis-admin", "watch", "-c", "1", "slice pl_victim and tcp and dst port 7")
		if err != nil {
			out += "\n" + err.Error()
		}
		watched <- out
	}()
	var seen string
	waitUntilFor(t, "orbis-admin watch to see pl_victim's packet", 20*time.Second, func() bool {
		in("pl_victim", "nc", "-w", "1", "127.0.0.1", "7") // refused: the SYN is what counts
		select {
		case seen = <-watched:
			return true
		default:
			return false
		}
	}, func() string { return "nothing watched" })
	if !strings.Contains(seen, "pl_victim") || !strings.Contains(seen, "127.0.0.1") || !strings.Contains(seen, "7") {
		t.Errorf("orbis-admin watch printed no packet of pl_victim to 127.0.0.1 port 7:\n%s", seen)
	}

	if out, err := in("pl_adm", "cat", fmt.Sprintf("/proc/%d/root/etc/hostname", sleeper)); err == nil {
		t.Errorf("the admin sliver read another sliver's file: %q", out)
	}
	if out, err := in("pl_adm", "touch", "/run/orbis-admin/x"); err == nil {
		t.Errorf("the admin sliver wrote into the admin service's directory: %q", out)
	}
	if out, err := in("pl_plain", "ls", "/run/orbis-admin"); err == nil {
		t.Errorf("a slice without the privilege sees /run/orbis-admin: %q", out)
	}
	if out, err := in("pl_plain", "/usr/bin/orbis-admin", "ps"); err == nil || !strings.Contains(out, "no admin service here") {
		t.Errorf("orbis-admin without the privilege: %v %q", err, out)
	}
	checkAdminLog(t, state)
}

// checkAdminLog: the admin action log, as `orbis admin log` prints it,
// shows the admin sliver's kill, by UID 0 of pl_adm.
func checkAdminLog(t *testing.T, state string) {
	acts, err := admin.ReadActions(state)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := admin.WriteActions(&out, acts); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(out.String()) {
		if f := strings.Fields(line); len(f) > 6 && f[2] == "pl_adm" && f[3] == "0" && f[5] == "kill" && strings.Contains(line, "pl_victim") {
			return
		}
	}
	t.Errorf("orbis admin log has no kill by pl_adm's root:\n%s", out.String())
}

// runawayOf returns the host PIDs of pl_victim's busy loop (the process
// that used a tenth of a second of CPU or more) and of its sleep; 0 for
// those not found yet.
func runawayOf(tn *testNode) (loop, sleeper int) {
	for _, pid := range procsIn(tn, "pl_victim") {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:]))
		utime, _ := strconv.Atoi(f[11])
		switch {
		case strings.Contains(string(st), "(sleep)"):
			sleeper = pid
		case utime >= 10:
			loop = pid
		}
	}
	return loop, sleeper
}

func procsIn(tn *testNode, name string) []int {
	b, _ := os.ReadFile(filepath.Join("/sys/fs/cgroup/pids", tn.cgroups, "fair", name, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); !strings.Contains(string(st), ") Z ") {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func contains(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

func findPSRow(out string, pid int) []string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 8 && f[0] == strconv.Itoa(pid) {
			return f
		}
	}
	return nil
}

// waitUntilFor waits up to d for cond; on timeout, it fails with what
// and what the optional explain says.
func waitUntilFor(t *testing.T, what string, d time.Duration, cond func() bool, explain ...func() string) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, e := range explain {
				what += ": " + e()
			}
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func bindRspec(t *testing.T, tn *testNode, name string, rs api.Rspec, script string) {
	t.Helper()
	ctx := context.Background()
	rc, err := tn.client.Acquire(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.client.Bind(ctx, name, rc, api.BindAttrs{InitScript: script}); err != nil {
		t.Fatal(err)
	}
}

// buildAdminImage builds the busybox image with a static orbis-admin (and
// a stand-in ping-orbis beside it, which the image builder looks for).
func buildAdminImage(t *testing.T, state string) {
	bin := t.TempDir()
	cmd := exec.Command(goTool(), "build", "-o", filepath.Join(bin, rootfs.AdminToolName), "github.com/orbisproject/orbis/internal/admin/cmd/orbis-admin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build orbis-admin: %v\n%s", err, out)
	}
	ping := filepath.Join(bin, rootfs.NetToolsName)
	if err := os.WriteFile(ping, []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := rootfs.NewStore(state, rootfs.Options{NetTools: ping}, testutil.Logger(t)).Build(testutil.Context(t), "busybox", "busybox", nil); err != nil {
		t.Fatal(err)
	}
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// dummyLink makes an interface (a veth pair: this kernel has no dummy
// driver) for the node to shape, removed at cleanup.
func dummyLink(t *testing.T) string {
	name := fmt.Sprintf("orbistestad%d", os.Getpid()%10000)
	l := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: fmt.Sprintf("orbistestap%d", os.Getpid()%10000)}
	if err := netlink.LinkAdd(l); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { netlink.LinkDel(l) })
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	return name
}

// startAdminNode starts the node agent as a child shaping uplink.
func startAdminNode(t *testing.T, tn *testNode, uplink string) {
	t.Helper()
	restorePingGroups(t)
	tn.cmd = reexec.Command(adminNodeEntry, tn.state, tn.sock, tn.cgroups, uplink)
	tn.cmd.Stderr = os.Stderr
	if err := tn.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tn.client = api.NewNMClient(tn.sock)
	waitUntilFor(t, "node up", 20*time.Second, func() bool {
		_, err := tn.client.List(context.Background())
		return err == nil
	})
}
