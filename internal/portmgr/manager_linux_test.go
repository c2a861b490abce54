package portmgr

import (
	"bufio"
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

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

// Host UIDs of the test's two slivers, far from real slice ranges.
const (
	aliceUID = 1_900_000_000
	bobUID   = aliceUID + 65536
)

// fixture is two slivers' cgroups, alice and bob, a private bpffs for
// the pins, and ports for the test. Programs attach at the machine's
// real cgroup v2 root, so the test's reservations hold machine-wide for
// the test's duration: its ports are chosen to meet nobody else.
type fixture struct {
	root        string // cgroup v2 root
	alice, bob  string // the slivers' cgroups
	aliceInner  string // a cgroup below alice's, where alice's tasks run
	bpffs, pins string
	hi          uint16 // a free high port outside the ephemeral range; hi+1..hi+3 too
	// localReserved stands in for ip_local_reserved_ports (the machine's
	// is shared with everyone's tests).
	localReserved string
	// maxSockets is the Manager's Config.MaxSockets (0: the default).
	maxSockets int
}

func newFixture(t testing.TB) *fixture {
	testutil.RequireRoot(t)
	f := &fixture{root: v2Root(t)}
	top := filepath.Join(f.root, fmt.Sprintf("orbistest-portmgr-%d", os.Getpid()))
	f.alice, f.bob = filepath.Join(top, "alice"), filepath.Join(top, "bob")
	f.aliceInner = filepath.Join(f.alice, "inner")
	for _, d := range []string{top, f.alice, f.aliceInner, f.bob} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, d := range []string{f.aliceInner, f.alice, f.bob, top} {
			if err := os.Remove(d); err != nil {
				t.Errorf("remove test cgroup: %v", err)
			}
		}
	})
	f.bpffs = filepath.Join(t.TempDir(), "orbistest-bpffs")
	f.pins = filepath.Join(f.bpffs, "orbis", "portmgr")
	t.Cleanup(func() {
		if isBPFFS(f.bpffs) {
			unix.Unmount(f.bpffs, unix.MNT_DETACH)
		}
	})
	f.hi = uint16(61000 + os.Getpid()%1000*4)
	f.localReserved = filepath.Join(t.TempDir(), "ip_local_reserved_ports")
	if err := os.WriteFile(f.localReserved, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// v2Root is the machine's cgroup v2 root.
func v2Root(t testing.TB) string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p
		}
	}
	t.Fatal("no cgroup v2 hierarchy mounted")
	return ""
}

// open starts a Manager pinning in the fixture's bpffs; the test's
// cleanup detaches it if the test did not close it.
func (f *fixture) open(t testing.TB) *Manager {
	t.Helper()
	m, err := New(Config{CgroupRoot: f.root, PinDir: f.pins, BPFFS: f.bpffs, Resolve: f.resolve,
		LocalReservedPorts: f.localReserved, MaxSockets: f.maxSockets, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Detach(); err != nil && !strings.Contains(err.Error(), "closed") {
			t.Errorf("Detach: %v", err)
		}
	})
	return m
}

func (f *fixture) resolve(uid uint32) (string, bool) {
	switch uid {
	case aliceUID:
		return "alice", true
	case bobUID:
		return "bob", true
	}
	return "", false
}

// binder is the binder entry point run in cgroup dir as uid (0: root),
// in a network namespace of its own, so its sockets meet no other test.
func (f *fixture) binder(t *testing.T, dir string, uid uint32, args ...string) *exec.Cmd {
	t.Helper()
	cg, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cg.Close() })
	cmd := reexec.Command(binderEntry, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWNET,
		UseCgroupFD: true,
		CgroupFD:    int(cg.Fd()),
	}
	if uid != 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uid, Gid: uid}
	}
	return cmd
}

// bind runs the binder and returns its result per spec.
func (f *fixture) bind(t *testing.T, dir string, uid uint32, specs ...string) []string {
	t.Helper()
	out, err := f.binder(t, dir, uid, specs...).Output()
	if err != nil {
		t.Fatalf("binder %v: %v", specs, err)
	}
	return strings.Fields(string(out))
}

// expect checks that every spec binds with want ("ok", "EPERM"...).
func (f *fixture) expect(t *testing.T, who, dir string, uid uint32, want string, specs ...string) {
	t.Helper()
	got := f.bind(t, dir, uid, specs...)
	for i, s := range specs {
		if i >= len(got) || got[i] != want {
			t.Errorf("%s binding %s: got %v, want %s", who, s, at(got, i), want)
		}
	}
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return "(nothing)"
}

// allKinds names a port on every kind of socket: TCP and UDP, IPv4,
// IPv6-only and dual-stack IPv6.
func allKinds(port uint16) []string {
	var out []string
	for _, k := range []string{"tcp4", "tcp6", "tcp6d", "udp4", "udp6", "udp6d"} {
		out = append(out, k+":"+strconv.Itoa(int(port)))
	}
	return out
}

func tcpUDP(ports ...uint16) []api.Port {
	var out []api.Port
	for _, p := range ports {
		out = append(out, api.Port{Proto: "tcp", Port: p}, api.Port{Proto: "udp", Port: p})
	}
	return out
}

// TestReservations is the port manager's promise: a reserved port binds
// for its owner only, on every kind of socket, low ports included with
// no privilege; everything else binds as it did.
func TestReservations(t *testing.T) {
	f := newFixture(t)
	m := f.open(t)
	ctx := testutil.Context(t)
	if !m.LowPorts() {
		t.Fatal("this kernel (6.x) should let owners bind low ports")
	}
	if err := m.Reserve(ctx, "alice", f.alice, tcpUDP(f.hi, 700)); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	reserved := append(allKinds(f.hi), allKinds(700)...)
	f.expect(t, "alice", f.aliceInner, aliceUID, "ok", reserved...)
	f.expect(t, "bob", f.bob, bobUID, "EPERM", reserved...)
	f.expect(t, "root in bob's cgroup", f.bob, 0, "EPERM", reserved...)
	f.expect(t, "bob", f.bob, bobUID, "EACCES", "tcp4:701", "udp6d:701")
	free := append(allKinds(f.hi+1), "tcp4:0", "udp6d:0")
	f.expect(t, "bob", f.bob, bobUID, "ok", free...)
	f.expect(t, "alice", f.aliceInner, aliceUID, "ok", free...)

	t.Run("conflicts", func(t *testing.T) {
		err := m.Reserve(ctx, "bob", f.bob, []api.Port{{Proto: "udp", Port: f.hi + 2}, {Proto: "tcp", Port: f.hi}})
		if err == nil || !strings.Contains(err.Error(), "reserved by alice") {
			t.Errorf("bob reserving alice's port: %v, want an error naming alice", err)
		}
		if err := m.Reserve(ctx, "bob", f.bob, []api.Port{{Proto: "tcp", Port: 40000}}); err == nil || !strings.Contains(err.Error(), "ephemeral") {
			t.Errorf("reserving an ephemeral port: %v", err)
		}
		f.expect(t, "alice", f.aliceInner, aliceUID, "ok", fmt.Sprintf("udp4:%d", f.hi+2))
	})
	t.Run("shrink", func(t *testing.T) {
		if err := m.Reserve(ctx, "alice", f.alice, []api.Port{{Proto: "tcp", Port: f.hi}}); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		f.expect(t, "bob", f.bob, bobUID, "EPERM", fmt.Sprintf("tcp4:%d", f.hi), fmt.Sprintf("tcp6d:%d", f.hi))
		f.expect(t, "bob", f.bob, bobUID, "ok", fmt.Sprintf("udp4:%d", f.hi), fmt.Sprintf("udp6d:%d", f.hi))
		f.expect(t, "bob", f.bob, bobUID, "EACCES", "tcp4:700", "udp6:700")
	})
	t.Run("release", func(t *testing.T) {
		if err := m.Release("alice"); err != nil {
			t.Fatalf("Release: %v", err)
		}
		f.expect(t, "bob", f.bob, bobUID, "ok", allKinds(f.hi)...)
		if es, err := m.List(); err != nil || len(es) != 0 {
			t.Errorf("List after Release = %v, %v; want nothing", es, err)
		}
	})
}

// TestSurvivesRestart closes a pinned Manager: enforcement continues with
// no Manager open, and a new Manager takes over the reservations; Detach
// then leaves nothing.
func TestSurvivesRestart(t *testing.T) {
	f := newFixture(t)
	m := f.open(t)
	ctx := testutil.Context(t)
	if err := m.Reserve(ctx, "alice", f.alice, tcpUDP(f.hi)); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.expect(t, "bob, no manager running", f.bob, bobUID, "EPERM", allKinds(f.hi)...)
	f.expect(t, "alice, no manager running", f.aliceInner, aliceUID, "ok", allKinds(f.hi)...)

	m = f.open(t)
	if es, err := m.List(); err != nil || len(es) != 2 || es[0].Owner != "alice" {
		t.Errorf("List after reopening = %v, %v; want alice's two reservations", es, err)
	}
	f.expect(t, "bob, manager reopened", f.bob, bobUID, "EPERM", allKinds(f.hi)...)
	checkLinks(t, m, f.root)
	if err := m.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	f.expect(t, "bob, detached", f.bob, bobUID, "ok", allKinds(f.hi)...)
	if ents, err := os.ReadDir(f.pins); err != nil || len(ents) != 0 {
		t.Errorf("pins left after Detach: %v %v", ents, err)
	}
}

// checkLinks checks that the kernel holds one link per hook, at the root.
func checkLinks(t *testing.T, m *Manager, root string) {
	t.Helper()
	rootID, _ := cgroupID(root)
	var got []ebpf.AttachType
	for _, l := range m.links {
		info, err := l.Info()
		if err != nil || info.Cgroup() == nil {
			t.Fatalf("link info: %v", err)
		}
		if info.Cgroup().CgroupId != rootID {
			t.Errorf("link attached to cgroup %d, want the root's %d", info.Cgroup().CgroupId, rootID)
		}
		got = append(got, ebpf.AttachType(info.Cgroup().AttachType))
	}
	want := []ebpf.AttachType{ebpf.AttachCGroupInet4Bind, ebpf.AttachCGroupInet6Bind, ebpf.AttachCGroupInetSockCreate, ebpf.AttachCgroupInetSockRelease}
	if !slices.Equal(got, want) {
		t.Errorf("links attached as %v, want %v", got, want)
	}
}

// TestVerified loads both variants of the program on both hooks, so the
// kernel's verifier passes each of them.
func TestVerified(t *testing.T) {
	testutil.RequireRoot(t)
	for _, noCap := range []bool{true, false} {
		coll, err := ebpf.NewCollection(collectionSpec(noCap, DefaultMaxSockets))
		if err != nil {
			t.Fatalf("load (low-port bypass %v): %v", noCap, err)
		}
		for _, h := range hooks {
			if coll.Programs[h.prog] == nil {
				t.Errorf("program %s missing", h.prog)
			}
		}
		coll.Close()
	}
}

// TestList shows reservations and the ports slivers' sockets hold, from
// a Manager and from the pins alone (what `orbis ports` reads).
func TestList(t *testing.T) {
	f := newFixture(t)
	m := f.open(t)
	ctx := testutil.Context(t)
	if err := m.Reserve(ctx, "alice", f.alice, []api.Port{{Proto: "tcp", Port: f.hi}, {Proto: "udp", Port: 700}}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	if err := m.Reserve(ctx, "bob", f.bob, []api.Port{{Proto: "udp", Port: f.hi + 1}}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	pid := f.hold(t, f.aliceInner, aliceUID, fmt.Sprintf("tcp4:%d", f.hi), fmt.Sprintf("tcp6:%d", f.hi+2), fmt.Sprintf("udp6d:%d", f.hi+3))
	es, err := Snapshot(f.pins, fmt.Sprintf("/proc/%d", pid), f.resolve)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	var got strings.Builder
	WriteTable(&got, es)
	want := fmt.Sprintf(`PROTO  PORT  KIND      OWNER
tcp   %5d  reserved  alice
tcp   %5d  bound     alice
tcp   %5d  bound     alice
udp     700  reserved  alice
udp   %5d  reserved  bob
udp   %5d  bound     alice
`, f.hi, f.hi, f.hi+2, f.hi+1, f.hi+3)
	if got.String() != want {
		t.Errorf("Snapshot table:\n%s\nwant:\n%s", got.String(), want)
	}
	var table strings.Builder
	if err := m.Table(&table); err != nil || !strings.Contains(table.String(), "udp     700  reserved  alice") {
		t.Errorf("Table: %v\n%s", err, table.String())
	}
	if _, err := Snapshot(filepath.Join(f.bpffs, "nothing"), "/proc", nil); err == nil {
		t.Error("Snapshot of a pin directory without a map succeeded")
	}
}

// hold runs a binder that keeps its sockets and returns its pid; the
// test's cleanup ends it.
func (f *fixture) hold(t *testing.T, dir string, uid uint32, specs ...string) int {
	t.Helper()
	cmd := f.binder(t, dir, uid, append([]string{"-hold"}, specs...)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	lines, err := readLines(bufio.NewReader(stdout), len(specs)+1)
	if err != nil || lines[len(lines)-1] != "held" || slices.ContainsFunc(lines, func(l string) bool { return l != "ok" && l != "held" }) {
		t.Fatalf("holder: %v %v", lines, err)
	}
	return cmd.Process.Pid
}

// TestNoPin: without pinning, enforcement lasts as long as the Manager,
// and only the hierarchy's root is accepted as the attach point.
func TestNoPin(t *testing.T) {
	f := newFixture(t)
	if m, err := New(Config{CgroupRoot: f.alice, PinDir: NoPin}); err == nil {
		m.Detach()
		t.Fatal("New attached below the cgroup v2 root")
	}
	m, err := New(Config{CgroupRoot: f.root, PinDir: NoPin, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Reserve(testutil.Context(t), "alice", f.alice, tcpUDP(f.hi)); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	f.expect(t, "bob", f.bob, bobUID, "EPERM", "tcp6d:"+strconv.Itoa(int(f.hi)))
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.expect(t, "bob, manager closed", f.bob, bobUID, "ok", "tcp6d:"+strconv.Itoa(int(f.hi)))
	if ents, _ := os.ReadDir(f.bpffs); len(ents) != 0 {
		t.Errorf("NoPin pinned %v", ents)
	}
}

// TestAttachAt: programs attached at a node's own cgroup bind the node's
// slivers only; a task outside it (another node on the same machine)
// binds a port reserved here, and an attach point outside the root is
// refused.
func TestAttachAt(t *testing.T) {
	f := newFixture(t)
	node := filepath.Dir(f.alice)
	outside := filepath.Join(f.root, fmt.Sprintf("orbistest-portmgr-out-%d", os.Getpid()))
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(outside) })
	if _, err := New(Config{CgroupRoot: f.root, AttachAt: filepath.Dir(f.root), PinDir: NoPin}); err == nil || !strings.Contains(err.Error(), "not below") {
		t.Errorf("an attach point above the cgroup root: %v, want refused", err)
	}
	m, err := New(Config{CgroupRoot: f.root, AttachAt: node, PinDir: f.pins, BPFFS: f.bpffs, Resolve: f.resolve, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Detach() })
	if err := m.Reserve(testutil.Context(t), "alice", f.alice, tcpUDP(f.hi)); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	f.expect(t, "alice", f.aliceInner, aliceUID, "ok", allKinds(f.hi)...)
	f.expect(t, "bob (this node)", f.bob, bobUID, "EPERM", allKinds(f.hi)...)
	f.expect(t, "bob on another node", outside, bobUID, "ok", allKinds(f.hi)...)
}

// TestHold: Holders says where a slice holds a port alone, as the raw socket service
// asks it: a reservation, or its socket bound to the wildcard address,
// is every address; another slice's reservation or socket is a refusal.
func TestHold(t *testing.T) {
	f := newFixture(t)
	pid := f.hold(t, f.aliceInner, aliceUID, fmt.Sprintf("tcp4:%d", f.hi+2))
	// A /proc whose socket tables are the holder's namespace's.
	proc := t.TempDir()
	os.Symlink(fmt.Sprintf("/proc/%d/net", pid), filepath.Join(proc, "net"))
	os.Symlink("/proc/sys", filepath.Join(proc, "sys"))
	m, err := New(Config{CgroupRoot: f.root, PinDir: NoPin, ProcRoot: proc, Resolve: f.resolve, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := m.Reserve(testutil.Context(t), "alice", f.alice, []api.Port{{Proto: "tcp", Port: f.hi}}); err != nil {
		t.Fatalf("Reserve: %v", err)
	}
	for _, c := range []struct {
		slice string
		port  uint16
		want  string
	}{
		{"alice", f.hi, "{true []}"},
		{"bob", f.hi, fmt.Sprintf("tcp port %d is reserved for another slice", f.hi)},
		{"alice", f.hi + 2, "{true []}"},
		{"bob", f.hi + 2, fmt.Sprintf("tcp port %d is in use by another slice", f.hi+2)},
		{"alice", f.hi + 3, fmt.Sprintf("slice alice does not own tcp port %d", f.hi+3)},
	} {
		hs, err := m.Holders()
		if err != nil {
			t.Fatalf("Holders: %v", err)
		}
		h, err := hs.Hold(c.slice, "tcp", c.port)
		got := fmt.Sprint(h)
		var nh *NotHeldError
		if errors.As(err, &nh) {
			got = nh.Reason
		} else if err != nil {
			t.Fatalf("Hold: %v", err)
		}
		if got != c.want {
			t.Errorf("%s holds tcp/%d: %s, want %s", c.slice, c.port, got, c.want)
		}
	}
}
