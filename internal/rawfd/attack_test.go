package rawfd

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// The attacks of a hostile slice's root on raw sockets through socket(2):
// each test performs one on real slivers and fails while it works.

var (
	attackerOnce sync.Once
	attackerErr  error
)

// attackImage returns the test image with /bin/attacker (testdata/attacker,
// built static) beside /bin/probe.
func attackImage(t testing.TB) string {
	t.Helper()
	dir := testImage(t)
	attackerOnce.Do(func() {
		attackerErr = buildTestProgram(filepath.Join(dir, "bin", "attacker"), "attacker", "ORBIS_TEST_RAWFD_ATTACKER")
	})
	if attackerErr != nil {
		t.Fatal(attackerErr)
	}
	return dir
}

// attack runs /bin/attacker args in the sliver as its user 1000.
func (s *testSlice) attack(t testing.TB, out *testutil.Buffer, args ...string) func() string {
	t.Helper()
	p := s.startCmd(t, out, append([]string{"/bin/attacker"}, args...))
	return func() string {
		t.Helper()
		if _, err := p.Wait(); err != nil {
			t.Fatalf("attacker %q: %v", args, err)
		}
		return strings.TrimSpace(out.String())
	}
}

// lastLine is the last line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return lines[len(lines)-1]
}

// TestAttackErrorQueue: a slice's raw UDP socket with IP_RECVERR must not
// get, on its error queue, the ICMP errors about another slice's
// datagrams (the kernel hands them to every raw socket of the protocol
// whose addresses match, past the socket's receive filter), with the
// datagrams' quoted headers and data.
func TestAttackErrorQueue(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 41)
	b := newSlice(t, srv, p.SendNS, 42)
	for _, tc := range []struct{ name, errq, send, dst string }{
		{"ipv4", "errq", "udpsend", p.RecvIP.String()},
		{"ipv6", "errq6", "udpsend6", p.RecvIP6.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := "victim-secret-udp-" + tc.name
			var spy testutil.Buffer
			done := a.attack(t, &spy, tc.errq, "17", "3", mark)
			waitFor(t, &spy, "ready")
			// The peer answers datagrams to its closed port 9 with
			// port unreachable, quoting them.
			var victim testutil.Buffer
			if out := b.attack(t, &victim, tc.send, tc.dst, "9", mark, "10")(); out != "sent" {
				t.Fatalf("victim: %q", out)
			}
			if got := lastLine(done()); got != "got 0" {
				t.Fatalf("slice a's raw UDP socket read slice b's ICMP errors from its error queue: %q, want got 0", got)
			}
		})
	}
}

// TestAttackPingIdentifier: a slice's raw socket sending echo requests
// with the identifier of another slice's ICMP datagram socket (which the
// kernel chose, or the slice bound; /proc/net/icmp lists them) must
// neither get that slice's echo replies nor hand it replies it did not ask
// for.
func TestAttackPingIdentifier(t *testing.T) {
	const maxInFlight = 3
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 43)
	b := newSlice(t, srv, p.SendNS, 44)
	if err := nettest.InNS(p.SendNS, func() error {
		return writePingGroups(GroupRange{b.UIDBase, b.UIDBase + b.UIDCount - 1})
	}); err != nil {
		t.Fatal(err)
	}
	var spy testutil.Buffer
	done := a.attack(t, &spy, "pingsteal", p.RecvIP.String(), "4321", "4", "victim-echo")
	waitFor(t, &spy, "ready")
	var victim testutil.Buffer
	got := b.attack(t, &victim, "dgramping", p.RecvIP.String(), "4321", "victim-echo", "40")()
	stolen := lastLine(done())
	if stolen != "got 0" {
		t.Errorf("slice a's raw socket got slice b's echo replies: %q, want got 0", stolen)
	}
	// Once b's first echo takes the flow, a's raw socket can send no more
	// on it; the kernel still hands b's socket every echo reply with its
	// identifier, so a reply to an echo of a's already in flight then (one
	// a millisecond, over a veth) may reach it, as an echo reply any host
	// sends may. Before the fix b got about 1,400.
	var own, other int
	if _, err := fmt.Sscanf(lastLine(got), "own %d other %d", &own, &other); err != nil {
		t.Fatalf("slice b's ping: %q: %v", got, err)
	}
	if other > maxInFlight {
		t.Errorf("slice b's ping socket was handed %d replies to slice a's echoes (%q), want at most the %d in flight when it started", other, got, maxInFlight)
	}
}

// TestAttackReleasedPort: a slice that held a UDP port and releases it
// must not get, through its raw socket, the datagrams to the port once
// another slice serves on it (the table follows the port manager only
// every second, and nothing keeps the port from others meanwhile).
func TestAttackReleasedPort(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	slices := map[string]*testSlice{}
	// The port manager's rule: ports a slice's sockets are bound to that
	// no one else's are.
	ports := func(name string) ([]Port, error) {
		mu.Lock()
		me := slices[name]
		mu.Unlock()
		if me == nil {
			return nil, nil
		}
		var owners map[uint16]map[uint32]bool
		err := nettest.InNS(p.SendNS, func() (err error) {
			owners, err = udpOwners()
			return err
		})
		if err != nil {
			return nil, err
		}
		var held []Port
		for port, uids := range owners {
			mine, others := false, false
			for uid := range uids {
				if uid >= me.UIDBase && uid < me.UIDBase+me.UIDCount {
					mine = true
				} else {
					others = true
				}
			}
			if mine && !others {
				held = append(held, Port{17, port})
			}
		}
		return held, nil
	}
	// The node's default: the table follows the ports every second.
	srv, err := New(Config{Ports: ports, NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	a := newSlice(t, srv, p.SendNS, 45)
	b := newSlice(t, srv, p.SendNS, 46)
	mu.Lock()
	slices[a.Name], slices[b.Name] = a, b
	mu.Unlock()
	var spy testutil.Buffer
	done := a.attack(t, &spy, "portrace", "6400", "3", "victim-port")
	waitFor(t, &spy, "holding")
	// Slice b serves on the port as soon as a lets it go; a host sends it
	// a datagram from a new port every 10ms (each a new flow, which only
	// the table's owner map attributes).
	var victim testutil.Buffer
	vdone := b.attack(t, &victim, "udpserve", "6400", "5")
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() {
		sent <- nettest.InNS(p.RecvNS, func() error {
			for {
				select {
				case <-stop:
					return nil
				case <-time.After(10 * time.Millisecond):
				}
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				unix.Sendto(fd, []byte("victim-port"), 0, &unix.SockaddrInet4{Addr: p.SendIP.As4(), Port: 6400})
				unix.Close(fd)
			}
		})
	}()
	stolen := lastLine(done())
	close(stop)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got := lastLine(vdone()); got == "served 0" || !strings.HasPrefix(got, "served ") {
		t.Fatalf("victim: %q, want it to serve", got)
	}
	if stolen != "got 0" {
		t.Fatalf("slice a's raw socket got the datagrams to slice b's server on the port a released: %q, want got 0", stolen)
	}
}

// udpOwners lists the UIDs of the UDP sockets on each local port in the
// calling thread's network namespace.
func udpOwners() (map[uint16]map[uint32]bool, error) {
	out := map[uint16]map[uint32]bool{}
	for _, name := range []string{"udp", "udp6"} {
		f, err := os.Open("/proc/thread-self/net/" + name)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan()
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) < 8 {
				continue
			}
			_, portHex, _ := strings.Cut(fl[1], ":")
			port, perr := strconv.ParseUint(portHex, 16, 16)
			uid, uerr := strconv.ParseUint(fl[7], 10, 32)
			if perr != nil || uerr != nil {
				continue
			}
			if out[uint16(port)] == nil {
				out[uint16(port)] = map[uint32]bool{}
			}
			out[uint16(port)][uint32(uid)] = true
		}
		f.Close()
	}
	return out, nil
}

// TestAttackFullDescriptorTable: a raw socket() from a process whose
// descriptor table is full fails with EMFILE; it must not wait forever
// (the kernel hands a failed ADDFD with SEND back to the agent, which
// must then answer the call itself).
func TestAttackFullDescriptorTable(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 47)
	var out testutil.Buffer
	if got := lastLine(a.attack(t, &out, "fdfull")()); got != "result: too many open files" {
		t.Fatalf("raw socket() with a full descriptor table: %q, want EMFILE", out.String())
	}
	// The agent still answers the sliver.
	if got := a.probe(t, "rawping", p.RecvIP.String(), "afterfull"); got != "reply" {
		t.Fatalf("raw ping after: %q", got)
	}
}

// TestAttackSocketStorm: threads calling socket(SOCK_RAW) at once get the
// slice's bound and EMFILE past it, and callers killed while the agent
// answers leave no raw socket behind; the agent still answers after.
func TestAttackSocketStorm(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 48)
	var out testutil.Buffer
	if got := lastLine(a.attack(t, &out, "threads", "50")()); got != "ok 8 emfile 42 other 0" {
		t.Fatalf("50 threads at once with a bound of 8: %q", got)
	}
	var kill testutil.Buffer
	if got := lastLine(a.attack(t, &kill, "killrace", "60")()); got != "done" {
		t.Fatalf("killrace: %q", got)
	}
	var held int
	for end := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		err := nettest.InNS(p.SendNS, func() error {
			h, err := heldBy(a.UIDBase, a.UIDCount)
			held = h.all
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if held == 0 || time.Now().After(end) {
			break
		}
	}
	if held != 0 {
		t.Fatalf("%d raw sockets of the slice left after every caller was killed", held)
	}
	if got := a.probe(t, "rawping", p.RecvIP.String(), "afterstorm"); got != "reply" {
		t.Fatalf("raw ping after the storm: %q", got)
	}
}

// TestAttackMisc: the sliver's root tries what would get it past the
// confinement: packet sockets of a type or protocol the agent does not
// make, raw protocols the kernel has not, flags
// the agent does not know, IP_TRANSPARENT, SO_MARK (option and control
// message), SO_ATTACH_REUSEPORT_CBPF, ptrace of the init, io_uring.
func TestAttackMisc(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 49)
	var out testutil.Buffer
	p0 := a.startAs(t, 0, &out, []string{"/bin/attacker", "misc"})
	if _, err := p0.Wait(); err != nil {
		t.Fatal(err)
	}
	got := lastLine(out.String())
	if strings.Contains(got, "ALLOWED") || !strings.Contains(got, "iouring=") {
		t.Fatalf("the sliver's root: %s", got)
	}
}

// TestAttackLoopbackSource: a raw packet with the source 127.0.0.1 (a
// local address, but not one the node may send from on a link) must not
// leave the node.
func TestAttackLoopbackSource(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, func(string) ([]Port, error) { return []Port{{17, 6000}}, nil })
	a := newSlice(t, srv, p.SendNS, 50)
	for _, src := range []string{"127.0.0.1", "127.1.2.3"} {
		c := startCapture(t, p)
		mark := "loopsrc-" + src
		out := a.probe(t, "send", "ownport", src, p.RecvIP.String(), mark)
		if n := c.seen(mark); n != 0 {
			t.Errorf("a packet from %s (probe: %s) reached the peer %d times", src, out, n)
		}
		c.close()
	}
}

// TestAttackNodePings: a slice's raw socket sending echo replies with the
// identifier of a host pinging the node (the node's kernel answers it)
// must not then get that host's echo requests.
func TestAttackNodePings(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 51)
	const id = 5151
	var fd int
	if err := nettest.InNS(p.RecvNS, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	ping := func(seq int, payload string) {
		b := append([]byte{8, 0, 0, 0, id >> 8, id & 0xff, 0, byte(seq)}, payload...)
		binary.BigEndian.PutUint16(b[2:], wire.Checksum(b))
		if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet4{Addr: p.SendIP.As4()}); err != nil {
			t.Fatal(err)
		}
	}
	ping(0, "first")
	var spy testutil.Buffer
	done := a.attack(t, &spy, "pingsteal", p.RecvIP.String(), fmt.Sprint(id), "3", "peer-echo-secret", "reply")
	waitFor(t, &spy, "ready")
	for seq := 1; seq <= 20; seq++ {
		ping(seq, "peer-echo-secret")
		time.Sleep(50 * time.Millisecond)
	}
	if got := lastLine(done()); got != "got 0" {
		t.Fatalf("slice a's raw socket got the echo requests a host sent the node: %q, want got 0", got)
	}
}

// TestAttackIPv6HeaderChains: IPv6 packets from the slice's own port whose
// fragment or routing header hides behind other extension headers, and a
// non-first fragment, do not leave the node.
func TestAttackIPv6HeaderChains(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, func(string) ([]Port, error) { return []Port{{17, 6000}}, nil })
	a := newSlice(t, srv, p.SendNS, 52)
	node, peer := p.SendIP6.String(), p.RecvIP6.String()
	for _, tc := range []struct {
		chain  string
		leaves bool
	}{
		{"none", true},
		{"hbh", true},
		{"hbh-dst", true},
		{"hbh-rt", false},
		{"dst-rt", false},
		{"dst-frag", false},
		{"hbh-dst-frag", false},
		{"fragn", false},
		{"ah-frag", false},
		{"dst-ah-rt", false},
	} {
		t.Run(tc.chain, func(t *testing.T) {
			c := startCapture(t, p)
			mark := "chain6-" + tc.chain
			var out testutil.Buffer
			res := a.attack(t, &out, "send6chain", tc.chain, node, peer, mark)()
			if got := c.seen(mark); (got > 0) != tc.leaves {
				t.Fatalf("%s (attacker: %s): the peer saw %d, want leaves=%v", tc.chain, res, got, tc.leaves)
			}
		})
	}
}

// TestAttackClaimAllIdentifiers: a slice sending one echo request with
// each of the 65,536 identifiers must not keep every other slice's raw
// socket from pinging for the next two minutes.
func TestAttackClaimAllIdentifiers(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 53)
	b := newSlice(t, srv, p.SendNS, 54)
	var out testutil.Buffer
	if got := lastLine(a.attack(t, &out, "claimids", "127.0.0.1")()); got != "claimed 65536" {
		t.Fatalf("claimids: %q", got)
	}
	if got := b.probe(t, "rawping", p.RecvIP.String(), "after-claim", "4242"); got != "reply" {
		t.Fatalf("slice b's raw ping once slice a sent with every identifier: %q, want a reply", got)
	}
}

// TestAttackPortChurn: slices changing their ports before every raw
// socket() call (each change is an nft(8) run on the agent's one worker
// thread) must not make another slice's socket() calls wait much longer.
func TestAttackPortChurn(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	uids := map[string][2]uint32{}
	ports := func(name string) ([]Port, error) {
		mu.Lock()
		r, ok := uids[name]
		mu.Unlock()
		if !ok {
			return nil, nil
		}
		var owners map[uint16]map[uint32]bool
		if err := nettest.InNS(p.SendNS, func() (err error) { owners, err = udpOwners(); return err }); err != nil {
			return nil, err
		}
		var held []Port
		for port, us := range owners {
			for uid := range us {
				if uid >= r[0] && uid < r[0]+r[1] {
					held = append(held, Port{17, port})
					break
				}
			}
		}
		return held, nil
	}
	srv, err := New(Config{Ports: ports, NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(true) })
	var attackers []*testSlice
	for i := range 3 {
		attackers = append(attackers, newSlice(t, srv, p.SendNS, uint32(55+i)))
	}
	b := newSlice(t, srv, p.SendNS, 59)
	mu.Lock()
	for _, s := range append(attackers, b) {
		uids[s.Name] = [2]uint32{s.UIDBase, s.UIDCount}
	}
	mu.Unlock()
	var base testutil.Buffer
	before := lastLine(b.attack(t, &base, "latency", "50")())
	var dones []func() string
	for _, a := range attackers {
		var out testutil.Buffer
		dones = append(dones, a.attack(t, &out, "churn", "4"))
		waitFor(t, &out, "ready")
	}
	var under testutil.Buffer
	during := lastLine(b.attack(t, &under, "latency", "50")())
	var calls []string
	for _, d := range dones {
		calls = append(calls, lastLine(d()))
	}
	t.Logf("slice b's raw socket(): alone %s; while 3 slices churn (%v) %s", before, calls, during)
	var alone, mean, most int
	fmt.Sscanf(before, "mean_us %d", &alone)
	fmt.Sscanf(during, "mean_us %d max_us %d", &mean, &most)
	if mean > 4*alone+10000 {
		t.Fatalf("slice b's raw socket() waits %s while other slices churn their ports (alone: %s)", during, before)
	}
}
