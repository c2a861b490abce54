package admin

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/shaping"
	"github.com/orbisproject/orbis/internal/sniff"
	"github.com/orbisproject/orbis/internal/testutil"
)

// Fake slices: host UIDs far above any real node's ranges.
const (
	adminBase  = 3_900_000_000 // orbistest_admin: has the privilege
	victimBase = adminBase + 65536
	sliceSize  = 65536
)

func fakeAuthorize(uid uint32) (string, bool) {
	switch {
	case uid >= adminBase && uid < adminBase+sliceSize:
		return "orbistest_admin", true
	case uid >= victimBase && uid < victimBase+sliceSize:
		return "orbistest_victim", false
	}
	return "", false
}

// env is a running service on a socket in a directory every UID may
// reach, and the orbis-admin client built beside it.
type env struct {
	t      *testing.T
	svc    *Service
	dir    string
	sock   string
	state  string
	stream *sniff.Stream
	policy atomic.Int64 // the local policy's cap in kbit/s; 0: none
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "orbistest-admin-bin-")
	if err != nil {
		return "", err
	}
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "orbis-admin")
	cmd := exec.Command(goTool(), "build", "-o", bin, "github.com/orbisproject/orbis/internal/admin/cmd/orbis-admin")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build orbis-admin: %v\n%s", err, out)
	}
	return bin, nil
})

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := buildOnce(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testutil.RequireRoot(t)
	dir, err := os.MkdirTemp("", "orbistest-admin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	e := &env{t: t, dir: dir, sock: filepath.Join(dir, "share", SocketName), state: filepath.Join(dir, "state"), stream: sniff.NewStream()}
	svc, err := New(Config{Authorize: fakeAuthorize, StateDir: e.state, Stream: e.stream, WatchBuffer: 16,
		AppliedCap: func() int64 { return 4242 },
		PolicyCap:  func() (int64, bool) { p := e.policy.Load(); return p, p > 0 },
		Log:        testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	l, err := Listen(e.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return e
}

// run runs orbis-admin as host UID uid and returns its output and error.
func (e *env) run(uid uint32, args ...string) (string, error) {
	e.t.Helper()
	bin, err := buildOnce()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--socket", e.sock}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// startAs starts a shell loop as host UID uid, killed at cleanup.
func startAs(t *testing.T, uid uint32, script string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// TestPSAndKill: an admin slice's process lists the slivers' processes of
// the node, with their slices, and kills a runaway process of another slice;
// PID 1, the node agent, a kernel thread and a recycled PID are refused.
func TestPSAndKill(t *testing.T) {
	e := newEnv(t)
	victim := startAs(t, victimBase+1000, "while :; do :; done")
	pid := victim.Process.Pid
	out, err := e.run(adminBase, "ps")
	if err != nil {
		t.Fatalf("ps: %v\n%s", err, out)
	}
	row := findRow(out, pid)
	if row == nil || row[3] != "orbistest_victim" || row[2] != strconv.Itoa(victimBase+1000) || !strings.Contains(out, "while :; do :; done") {
		t.Fatalf("ps has no row for the victim %d of orbistest_victim:\n%s", pid, out)
	}
	if self := findRow(out, os.Getpid()); self != nil {
		t.Errorf("ps: an admin slice sees the host's process %d: %v", os.Getpid(), self)
	}
	if !strings.HasPrefix(out, "PID") || !aligned(out) {
		t.Errorf("ps table is not aligned:\n%s", out)
	}

	js, err := e.run(adminBase, "ps", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var ps api.AdminPS
	if err := json.Unmarshal([]byte(js), &ps); err != nil {
		t.Fatal(err)
	}
	var start uint64
	for _, p := range ps.Processes {
		if p.PID == pid {
			start = p.StartTicks
			if p.Slice != "orbistest_victim" || p.State == "" || time.Since(p.Start) > time.Minute || p.RSS == 0 {
				t.Errorf("victim listed as %+v", p)
			}
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"kill", "1"}, "pid 1 is the node's init: refused"},
		{[]string{"kill", strconv.Itoa(os.Getpid())}, "is the node agent: refused"},
		{[]string{"kill", "2"}, "kernel thread [kthreadd]: refused"},
		{[]string{"kill", strconv.Itoa(os.Getppid())}, "not a sliver's process"},
		{[]string{"kill", "--start", strconv.FormatUint(start+1, 10), strconv.Itoa(pid), "KILL"}, "is now another process"},
		{[]string{"kill", strconv.Itoa(pid), "NOPE"}, "unknown"},
		{[]string{"kill", "4194304"}, "no such process"},
	} {
		if out, err := e.run(adminBase, c.args...); err == nil || !strings.Contains(out, c.want) {
			t.Errorf("%v: %v, %q; want an error with %q", c.args, err, out, c.want)
		}
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("a refused kill killed the victim: %v", err)
	}
	out, err = e.run(adminBase, "kill", "--start", strconv.FormatUint(start, 10), strconv.Itoa(pid), "KILL")
	if err != nil || !strings.Contains(out, "sent SIGKILL to pid "+strconv.Itoa(pid)) || !strings.Contains(out, "orbistest_victim") {
		t.Fatalf("kill: %v\n%s", err, out)
	}
	if st, _ := victim.Process.Wait(); st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("victim ended with %v, want SIGKILL", st)
	}
}

// findRow returns the fields of the ps row of pid.
func findRow(out string, pid int) []string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 8 && f[0] == strconv.Itoa(pid) {
			return f
		}
	}
	return nil
}

// aligned reports whether every row's second column starts where the
// header's does.
func aligned(out string) bool {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := strings.Index(lines[0], "PPID")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			return false
		}
	}
	return true
}

// TestRefused: a slice without the privilege and a host user are refused
// every operation, and each refusal is in the action log.
func TestRefused(t *testing.T) {
	e := newEnv(t)
	victim := startAs(t, victimBase+7, "exec sleep 1000")
	for uid, want := range map[uint32]string{
		victimBase: "slice orbistest_victim does not have the admin privilege",
		65534:      "host UID 65534 belongs to no slice",
	} {
		for _, args := range [][]string{{"ps"}, {"kill", strconv.Itoa(victim.Process.Pid), "KILL"}, {"bwcap", "1mbit"}, {"watch"}} {
			if out, err := e.run(uid, args...); err == nil || !strings.Contains(out, want) {
				t.Errorf("uid %d %v: %v, %q; want %q", uid, args, err, out, want)
			}
		}
	}
	if err := syscall.Kill(victim.Process.Pid, 0); err != nil {
		t.Errorf("a refused kill killed: %v", err)
	}
	if _, ok, _ := shaping.ReadCap(e.state); ok {
		t.Error("a refused bwcap wrote the cap")
	}
	acts, err := ReadActions(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if len(acts) != 8 {
		t.Fatalf("%d actions logged, want 8: %+v", len(acts), acts)
	}
	for _, a := range acts {
		if a.Result == "ok" || a.PID == 0 || (a.Slice != "orbistest_victim" && a.HostUID != 65534) {
			t.Errorf("refusal logged as %+v", a)
		}
	}
}

// TestBwcap: the admin slice sets the node's cap where the shaper reads
// it, within the local policy's bound, and sees it.
func TestBwcap(t *testing.T) {
	e := newEnv(t)
	out, err := e.run(adminBase, "bwcap")
	if err != nil || !strings.Contains(out, "100mbit (default; none set), not applied yet (now 4242kbit)") {
		t.Errorf("bwcap: %v %q", err, out)
	}
	if out, err := e.run(adminBase, "bwcap", "10mbit"); err != nil || !strings.HasPrefix(out, "10mbit, not applied yet") {
		t.Errorf("bwcap 10mbit: %v %q", err, out)
	}
	if kbit, ok, err := shaping.ReadCap(e.state); kbit != 10000 || !ok || err != nil {
		t.Errorf("cap file: %d %v %v", kbit, ok, err)
	}
	e.policy.Store(50000)
	if out, err := e.run(adminBase, "bwcap", "80mbit"); err == nil || !strings.Contains(out, "80mbit is above the node's local policy cap of 50mbit") {
		t.Errorf("bwcap above the policy: %v %q", err, out)
	}
	if out, err := e.run(adminBase, "bwcap", "fast"); err == nil || !strings.Contains(out, "want a unit") {
		t.Errorf("bwcap fast: %v %q", err, out)
	}
	if out, err := e.run(adminBase, "bwcap"); err != nil || !strings.HasPrefix(out, "10mbit, not applied yet") || !strings.Contains(out, "policy allows at most 50mbit") {
		t.Errorf("bwcap: %v %q", err, out)
	}
}

// publish keeps publishing packets until ctx ends.
func publish(ctx context.Context, s *sniff.Stream, ps ...sniff.Packet) {
	for ctx.Err() == nil {
		for _, p := range ps {
			p.Time = time.Now()
			s.Publish(p)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var (
	synA = sniff.Packet{Slice: "pl_a", Src: netip.MustParseAddr("10.1.0.1"), Dst: netip.MustParseAddr("10.1.0.2"),
		Proto: 6, SrcPort: 40000, DstPort: 80, TCPFlags: sniff.TCPSyn, Len: 60}
	udpB = sniff.Packet{Slice: "pl_b", Src: netip.MustParseAddr("10.1.0.1"), Dst: netip.MustParseAddr("10.1.0.3"),
		Proto: 17, SrcPort: 5353, DstPort: 53, Len: 1400}
	pingNode = sniff.Packet{Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"), Proto: 58, Len: 104}
)

// TestWatch: the admin slice sees the node's packets tcpdump-style,
// filtered, and as pcap.
func TestWatch(t *testing.T) {
	e := newEnv(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go publish(ctx, e.stream, synA, udpB, pingNode)
	for _, c := range []struct {
		filter, want string
	}{
		{"tcp and dst port 80", "pl_a 10.1.0.1.40000 > 10.1.0.2.80: tcp [S] length 60"},
		{"slice pl_b", "pl_b 10.1.0.1.5353 > 10.1.0.3.53: udp length 1400"},
		{"node", "- fd00::1 > fd00::2: icmp6 length 104"},
	} {
		out, err := e.run(adminBase, "watch", "-c", "3", c.filter)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || len(lines) != 4 || !strings.HasSuffix(lines[0], c.want) || !strings.Contains(lines[3], "3 packets shown") {
			t.Errorf("watch %q: %v\n%s\nwant 3 lines ending %q", c.filter, err, out, c.want)
		}
	}
	if out, err := e.run(adminBase, "watch", "port"); err == nil || !strings.Contains(out, `"port": unknown term or missing argument`) {
		t.Errorf("bad filter: %v %q", err, out)
	}

	bin, _ := buildOnce()
	cmd := exec.Command(bin, "--socket", e.sock, "watch", "--pcap", "-c", "2", "tcp")
	pcap, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	recs := readPcap(t, pcap)
	if len(recs) != 2 || recs[0].orig != 60 || recs[0].data[0] != 0x45 || recs[0].data[9] != 6 || recs[0].data[33] != sniff.TCPSyn ||
		binary.BigEndian.Uint16(recs[0].data[22:]) != 80 {
		t.Errorf("pcap records: %+v", recs)
	}
	if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command("sh", "-c", bin+" --socket "+e.sock+" watch --pcap -c 1 udp | "+tcpdump+" -n -r -").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "10.1.0.1.5353 > 10.1.0.3.53") {
			t.Errorf("tcpdump -r: %v\n%s", err, out)
		}
	}
}

type pcapRecord struct {
	orig int
	data []byte
}

func readPcap(t *testing.T, b []byte) []pcapRecord {
	t.Helper()
	if len(b) < 24 || binary.LittleEndian.Uint32(b) != 0xa1b2c3d4 || binary.LittleEndian.Uint32(b[20:]) != 101 {
		t.Fatalf("not a pcap file of raw IP: % x", b[:min(len(b), 24)])
	}
	var out []pcapRecord
	for b = b[24:]; len(b) >= 16; {
		n := int(binary.LittleEndian.Uint32(b[8:]))
		out = append(out, pcapRecord{orig: int(binary.LittleEndian.Uint32(b[12:])), data: b[16 : 16+n]})
		b = b[16+n:]
	}
	return out
}

// TestWatchBounded: a watcher that reads too slowly loses packets,
// counted and told, and never holds the stream back.
func TestWatchBounded(t *testing.T) {
	e := newEnv(t)
	c := api.NewAdminClient(e.sock)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var dropped uint64
	published := make(chan struct{})
	go func() { // until the watcher is subscribed and sees a first packet
		for {
			select {
			case <-published:
				return
			case <-time.After(10 * time.Millisecond):
				e.stream.Publish(synA)
			}
		}
	}()
	err := c.Watch(ctx, "", func(ev api.AdminWatchEvent) error {
		if ev.Packet == nil {
			if dropped = ev.Dropped; dropped >= 10_000 {
				return context.Canceled
			}
			return nil
		}
		select {
		case <-published:
		default:
			close(published)
			for range 20_000 { // the watcher holds 16, the socket some more
				e.stream.Publish(synA)
			}
		}
		return nil
	})
	if err != context.Canceled || dropped < 10_000 {
		t.Errorf("watch: %v, %d dropped", err, dropped)
	}
	acts, _ := ReadActions(e.state)
	if last := acts[len(acts)-1]; last.Op != "watch" || !strings.HasPrefix(last.Note, "end:") {
		waitFor(t, func() bool {
			acts, _ = ReadActions(e.state)
			return strings.HasPrefix(acts[len(acts)-1].Note, "end:")
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// TestActionLog: each action is logged with who did it, and `orbis admin
// log` prints them aligned.
func TestActionLog(t *testing.T) {
	e := newEnv(t)
	victim := startAs(t, victimBase+3, "exec sleep 1000")
	e.run(adminBase+5, "ps")
	e.run(adminBase, "kill", strconv.Itoa(victim.Process.Pid))
	e.run(adminBase, "bwcap", "2mbit")
	acts, err := ReadActions(e.state)
	if err != nil || len(acts) != 3 {
		t.Fatalf("%d actions, %v", len(acts), err)
	}
	want := []struct {
		op, note string
		uid      uint32
	}{{"ps", "processes", adminBase + 5}, {"kill", "orbistest_victim", adminBase}, {"bwcap set", "rate 2mbit", adminBase}}
	for i, w := range want {
		a := acts[i]
		if a.Op != w.op || !strings.Contains(a.Note, w.note) || a.HostUID != w.uid || a.Slice != "orbistest_admin" || a.Result != "ok" || a.PID == 0 {
			t.Errorf("action %d: %+v, want %+v", i, a, w)
		}
	}
	var out bytes.Buffer
	WriteActions(&out, acts)
	if !strings.Contains(out.String(), "orbistest_admin") || !strings.HasPrefix(out.String(), "TIME") {
		t.Errorf("log:\n%s", out.String())
	}
	st, err := os.Stat(filepath.Join(e.state, ActionsFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("action log: %v, %v", st.Mode(), err)
	}
}

// TestWatchersBounded: an admin slice cannot open watchers without end
// (each holds a buffer and gets every packet of the node): past
// MaxWatchers at a time it is refused, and room comes back when one ends.
func TestWatchersBounded(t *testing.T) {
	e := newEnv(t)
	for range cap(e.svc.watchers) - 1 { // all but one taken
		e.svc.watchers <- struct{}{}
	}
	c := api.NewAdminClient(e.sock)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- c.Watch(ctx, "", func(api.AdminWatchEvent) error { return nil }) }()
	waitFor(t, func() bool { return len(e.svc.watchers) == cap(e.svc.watchers) })
	err := c.Watch(context.Background(), "", func(api.AdminWatchEvent) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "watchers already watch this node") {
		t.Fatalf("a watcher past the bound: %v, want refused", err)
	}
	cancel()
	<-first
	waitFor(t, func() bool { return len(e.svc.watchers) == cap(e.svc.watchers)-1 })
	for range cap(e.svc.watchers) - 1 {
		<-e.svc.watchers
	}
}
