package rawfd

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	code := m.Run()
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
	if debianDir != "" {
		os.RemoveAll(debianDir)
	}
	os.Exit(code)
}

var (
	imageOnce sync.Once
	imageDir  string
	imageErr  error
)

// testImage returns a root-owned image holding /bin/probe (testdata/probe,
// built static), made once per test binary.
func testImage(t testing.TB) string {
	t.Helper()
	imageOnce.Do(func() {
		imageDir, imageErr = os.MkdirTemp("", "orbistest-rawfd-image-")
		if imageErr != nil {
			return
		}
		for _, d := range []string{"bin", "etc", "tmp", "proc", "dev", "sys", "root"} {
			if imageErr = os.MkdirAll(filepath.Join(imageDir, d), 0o755); imageErr != nil {
				return
			}
		}
		os.Chmod(filepath.Join(imageDir, "tmp"), 0o1777)
		imageErr = buildTestProgram(filepath.Join(imageDir, "bin", "probe"), "probe", "ORBIS_TEST_RAWFD_PROBE")
	})
	if imageErr != nil {
		t.Fatalf("rawfd test image: %v", imageErr)
	}
	return imageDir
}

// buildTestProgram builds testdata/<name> into dst, or copies the binary
// the environment variable env names (where there is no Go toolchain:
// test/vm builds them on the host).
func buildTestProgram(dst, name, env string) error {
	if prog := os.Getenv(env); prog != "" {
		b, err := os.ReadFile(prog)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o755)
	}
	build := exec.Command("go", "build", "-o", dst, "./testdata/"+name)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %w\n%s", name, err, out)
	}
	return nil
}

var slivers atomic.Uint32

// testSlice is a sliver of the test, in the network namespace ns, whose
// raw socket() calls srv answers.
type testSlice struct {
	Slice
	cfg sandbox.Config
	ns  string
}

// newSlice prepares a sliver with a UID range of its own and its raw
// sockets served by srv; it is stopped when the test ends.
func newSlice(t testing.TB, srv *Server, ns string, index uint32) *testSlice {
	t.Helper()
	testutil.RequireRoot(t)
	n := slivers.Add(1)
	// A range no other test process uses at the same time.
	base := uint32(0x10000 * (3000 + (os.Getpid()%4000)*4 + int(n)%4))
	dir := t.TempDir()
	s := &testSlice{Slice: Slice{Name: fmt.Sprintf("rawfd%d", n), Index: index, UIDBase: base, UIDCount: 65536}, ns: ns}
	s.cfg = sandbox.Config{
		Name: s.Name, Image: testImage(t),
		Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work"), RunDir: filepath.Join(dir, "run"),
		UIDBase: base, UIDCount: 65536,
	}
	if srv != nil {
		s.cfg.RawSockets = func(f *os.File) { srv.Serve(s.Slice, f) }
	}
	if err := sandbox.Prepare(s.cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := sandbox.Stop(ctx, s.cfg); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// start runs /bin/probe args in the sliver as the sliver's user 1000 (no
// capabilities), with its output in out.
func (s *testSlice) start(t testing.TB, out *testutil.Buffer, args ...string) *sandbox.Process {
	t.Helper()
	return s.startCmd(t, out, append([]string{"/bin/probe"}, args...))
}

// startCmd runs args in the sliver as its user 1000.
func (s *testSlice) startCmd(t testing.TB, out *testutil.Buffer, args []string) *sandbox.Process {
	t.Helper()
	return s.startAs(t, 1000, out, args)
}

// startAs runs args in the sliver as its user uid.
func (s *testSlice) startAs(t testing.TB, uid uint32, out *testutil.Buffer, args []string) *sandbox.Process {
	t.Helper()
	cmd := sandbox.Cmd{Args: args, UID: uid, GID: uid, Stdout: out, Stderr: out}
	var p *sandbox.Process
	err := nettest.InNS(s.ns, func() (err error) {
		p, err = sandbox.Start(testutil.Context(t), s.cfg, cmd, testutil.Logger(t))
		return err
	})
	if err != nil {
		t.Fatalf("start %q: %v", args, err)
	}
	return p
}

// probe runs /bin/probe args in the sliver and returns its output.
func (s *testSlice) probe(t testing.TB, args ...string) string {
	t.Helper()
	var out testutil.Buffer
	p := s.start(t, &out, args...)
	if _, err := p.Wait(); err != nil {
		t.Fatalf("probe %q: %v", args, err)
	}
	return strings.TrimSpace(out.String())
}

// newServer starts a Server in the pair's sending namespace; slice
// ports are what ports says.
// grantClaims is a port manager that grants every claim: without one,
// raw and packet sockets get no port at all.
func grantClaims(string, Port, func()) (func(), error) { return func() {}, nil }

func newServer(t testing.TB, p *nettest.Pair, ports func(string) ([]Port, error)) *Server {
	t.Helper()
	srv, err := New(Config{Ports: ports, Claim: grantClaims, NetNS: p.SendNS, SyncEvery: 100 * time.Millisecond, MaxPerSlice: 8, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return srv
}

// capture records every IP packet that reaches the peer's device.
type capture struct {
	mu   sync.Mutex
	pkts [][]byte
	stop atomic.Bool
	done chan struct{}
}

func startCapture(t testing.TB, p *nettest.Pair) *capture {
	t.Helper()
	return startCaptureOn(t, p.RecvNS, p.RecvDev)
}

// startCaptureOn records every IP packet that reaches dev in ns.
func startCaptureOn(t testing.TB, ns, dev string) *capture {
	t.Helper()
	c := &capture{done: make(chan struct{})}
	var fd int
	err := nettest.InNS(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	tv := unix.NsecToTimeval((50 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	go func() {
		defer close(c.done)
		defer unix.Close(fd)
		buf := make([]byte, 65536)
		for !c.stop.Load() {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == nil {
				c.mu.Lock()
				c.pkts = append(c.pkts, bytes.Clone(buf[:n]))
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(c.close)
	return c
}

func (c *capture) close() {
	if !c.stop.Swap(true) {
		<-c.done
	}
}

// seen counts the captured packets that hold mark, after waiting a moment
// for stragglers.
func (c *capture) seen(mark string) int {
	time.Sleep(200 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, p := range c.pkts {
		if bytes.Contains(p, []byte(mark)) {
			n++
		}
	}
	return n
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// waitFor waits until out holds line.
func waitFor(t testing.TB, out *testutil.Buffer, line string) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(out.String(), line) {
			return
		}
	}
	t.Fatalf("no %q from the probe: %q", line, out.String())
}

// writePingGroups sets the calling thread's namespace's range.
func writePingGroups(r GroupRange) error {
	return os.WriteFile(pingGroupRange, fmt.Appendf(nil, "%d %d\n", r.Lo, r.Hi), 0o644)
}

// seccompFDs lists the seccomp listeners process pid holds.
func seccompFDs(t testing.TB, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("fds of %d: %v", pid, err)
	}
	var out []string
	for _, e := range ents {
		if l, _ := os.Readlink(filepath.Join(dir, e.Name())); strings.Contains(l, "seccomp") {
			out = append(out, e.Name()+" -> "+l)
		}
	}
	return out
}
