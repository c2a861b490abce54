package rawsock

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
)

// chain is three network namespaces in a line, A - R - B, with R
// forwarding: A is the node running the service, R its peer and router,
// B a host two hops away. Nothing leaves them.
type chain struct {
	A, R, B      string // namespace paths
	a, ra, rb, b netip.Addr
	a6, ra6, b6  netip.Addr
}

// newChain builds a chain; t.Cleanup deletes the namespaces (and so their
// veths and nftables tables).
func newChain(t testing.TB) *chain {
	t.Helper()
	id := os.Getpid()
	name := func(n string) string { return fmt.Sprintf("orbistest-rs%s-%d", n, id) }
	c := &chain{
		A: "/run/netns/" + name("A"), R: "/run/netns/" + name("R"), B: "/run/netns/" + name("B"),
		a: netip.MustParseAddr("10.202.1.1"), ra: netip.MustParseAddr("10.202.1.2"),
		rb: netip.MustParseAddr("10.202.2.1"), b: netip.MustParseAddr("10.202.2.2"),
		a6: netip.MustParseAddr("fd00:202:1::1"), ra6: netip.MustParseAddr("fd00:202:1::2"),
		b6: netip.MustParseAddr("fd00:202:2::2"),
	}
	t.Cleanup(func() {
		for _, n := range []string{"A", "R", "B"} {
			if out, err := exec.Command("ip", "netns", "del", name(n)).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such") {
				t.Errorf("ip netns del %s: %v: %s", name(n), err, out)
			}
		}
	})
	dev := func(n string) string { return fmt.Sprintf("obt%s%d", n, id) }
	ipCmd(t, "netns", "add", name("A"))
	ipCmd(t, "netns", "add", name("R"))
	ipCmd(t, "netns", "add", name("B"))
	for _, ns := range []string{c.A, c.R, c.B} {
		// No duplicate address detection: link-local addresses usable at
		// once, so that the first IPv6 packets are not lost to it.
		if err := nettest.InNS(ns, func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0)
		}); err != nil {
			t.Fatalf("accept_dad: %v", err)
		}
	}
	ipCmd(t, "link", "add", dev("a"), "netns", name("A"), "type", "veth", "peer", "name", dev("ra"), "netns", name("R"))
	ipCmd(t, "link", "add", dev("b"), "netns", name("B"), "type", "veth", "peer", "name", dev("rb"), "netns", name("R"))
	for _, s := range []struct{ ns, dev, v4, v6, gw4, gw6 string }{
		{name("A"), dev("a"), "10.202.1.1/24", "fd00:202:1::1/64", "10.202.1.2", "fd00:202:1::2"},
		{name("R"), dev("ra"), "10.202.1.2/24", "fd00:202:1::2/64", "", ""},
		{name("R"), dev("rb"), "10.202.2.1/24", "fd00:202:2::1/64", "", ""},
		{name("B"), dev("b"), "10.202.2.2/24", "fd00:202:2::2/64", "10.202.2.1", "fd00:202:2::1"},
	} {
		ipCmd(t, "-n", s.ns, "addr", "add", s.v4, "dev", s.dev)
		ipCmd(t, "-n", s.ns, "addr", "add", s.v6, "dev", s.dev, "nodad")
		ipCmd(t, "-n", s.ns, "link", "set", s.dev, "up")
		ipCmd(t, "-n", s.ns, "link", "set", "lo", "up")
		if s.gw4 != "" {
			ipCmd(t, "-n", s.ns, "route", "add", "default", "via", s.gw4)
			ipCmd(t, "-n", s.ns, "-6", "route", "add", "default", "via", s.gw6)
		}
	}
	err := nettest.InNS(c.R, func() error {
		for _, f := range []string{"/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"} {
			if err := os.WriteFile(f, []byte("1"), 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("forwarding on R: %v", err)
	}
	for _, w := range [][2]string{{name("A"), dev("a")}, {name("R"), dev("ra")}, {name("R"), dev("rb")}, {name("B"), dev("b")}} {
		waitUp(t, w[0], w[1])
	}
	return c
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func waitUp(t testing.TB, ns, dev string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "-n", ns, "-br", "link", "show", "dev", dev).Output()
		if f := strings.Fields(string(out)); len(f) > 1 && f[1] == "UP" {
			return
		}
	}
	t.Fatalf("%s in %s: not up after 5s", dev, ns)
}

// sniffer records every IP packet seen on any interface of a namespace,
// in both directions: the test's view of the wire.
type sniffer struct {
	fd int

	// mu guards the following.
	mu   sync.Mutex
	pkts [][]byte
}

func sniff(t *testing.T, ns string) *sniffer {
	t.Helper()
	s := &sniffer{fd: -1}
	err := nettest.InNS(ns, func() (err error) {
		s.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		return err
	})
	if err != nil {
		t.Fatalf("sniffer: %v", err)
	}
	unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	done := make(chan struct{})
	stop := make(chan struct{})
	go s.loop(stop, done)
	t.Cleanup(func() { close(stop); <-done; unix.Close(s.fd) })
	return s
}

func (s *sniffer) loop(stop, done chan struct{}) {
	defer close(done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err == nil {
			s.mu.Lock()
			s.pkts = append(s.pkts, append([]byte(nil), buf[:n]...))
			s.mu.Unlock()
		}
	}
}

// count returns how many recorded packets match.
func (s *sniffer) count(match func(p []byte) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, p := range s.pkts {
		if match(p) {
			n++
		}
	}
	return n
}

// waitFor waits up to d for a matching packet.
func (s *sniffer) waitFor(d time.Duration, match func(p []byte) bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if s.count(match) > 0 {
			return true
		}
	}
	return false
}
