package rawfd

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

// The fifth round of attacks of a hostile slice's root, on packet sockets,
// the spare socket and the table: each test performs one on real slivers
// and fails while it works.

var (
	attacker5Once sync.Once
	attacker5Err  error
)

// attack5 runs /bin/attacker5 args (testdata/attacker5, built static) in
// the sliver as its user 1000; the returned func waits for it and returns
// its output.
func (s *testSlice) attack5(t testing.TB, out *testutil.Buffer, args ...string) func() string {
	t.Helper()
	dir := testImage(t)
	attacker5Once.Do(func() {
		attacker5Err = buildTestProgram(filepath.Join(dir, "bin", "attacker5"), "attacker5", "ORBIS_TEST_RAWFD_ATTACKER5")
	})
	if attacker5Err != nil {
		t.Fatal(attacker5Err)
	}
	p := s.startCmd(t, out, append([]string{"/bin/attacker5"}, args...))
	return func() string {
		t.Helper()
		if _, err := p.Wait(); err != nil {
			t.Fatalf("attacker5 %q: %v", args, err)
		}
		return strings.TrimSpace(out.String())
	}
}

// nodePing sends n echo requests with identifier id and payload from the
// node (root's raw socket in ns) to dst, and returns how many replies
// came back.
func nodePing(t *testing.T, ns string, dst [4]byte, id uint16, payload string, n int) int {
	t.Helper()
	replies := 0
	if err := nettest.InNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		buf := make([]byte, 1500)
		for seq := 1; seq <= n; seq++ {
			b := append([]byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, byte(seq)}, payload...)
			binary.BigEndian.PutUint16(b[2:], wire.Checksum(b))
			if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
				return err
			}
			for {
				m, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					break
				}
				ihl := int(buf[0]&0xf) * 4
				if m >= ihl+8 && buf[ihl] == 0 && binary.BigEndian.Uint16(buf[ihl+4:]) == id {
					replies++
					break
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return replies
}

// TestAttackStaleEchoFlow: a slice teaches the packet sockets' filter an
// echo flow (peer, identifier) with one echo request of its raw socket,
// then keeps only a packet socket of one protocol, which sees no frame go
// out: when the node (or another slice) later pings that peer with that
// identifier, no filter sees its request take the flow back, and the
// slice's packet socket must still not get the replies.
func TestAttackStaleEchoFlow(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := packetServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 91)
	const id = 0x5e5e
	var spy testutil.Buffer
	done := a.attack5(t, &spy, "echosteal", p.RecvIP.String(), fmt.Sprint(id), "4", "node-echo-secret")
	waitFor(t, &spy, "ready")
	if !strings.Contains(spy.String(), "learned") {
		t.Fatalf("the slice's own echo got no reply: %s", spy.String())
	}
	// The node pings the same peer with the same identifier later on.
	if got := nodePing(t, p.SendNS, p.RecvIP.As4(), id, "node-echo-secret", 10); got == 0 {
		t.Fatal("the node's pings got no reply: the test proves nothing")
	}
	if got := lastLine(done()); got != "got 0" {
		t.Fatalf("slice a's packet socket got the node's echo replies: %q, want got 0", got)
	}
}

// udpHolders is the port manager's rule for the test's slices: the UDP
// ports a slice's sockets are bound to that no one else's are.
func udpHolders(ns string, mu *sync.Mutex, slices map[string]*testSlice) func(string) ([]Port, error) {
	return func(name string) ([]Port, error) {
		mu.Lock()
		me := slices[name]
		mu.Unlock()
		if me == nil {
			return nil, nil
		}
		var owners map[uint16]map[uint32]bool
		if err := nettest.InNS(ns, func() (err error) { owners, err = udpOwners(); return err }); err != nil {
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
}

// TestAttackPacketReleasedPort: on a node without a port manager (no
// Config.Claim), a slice that held a UDP port and releases it must not
// see, on its packet socket, the datagrams of another slice that binds
// the port next (the filter's ports follow the port manager only at
// each sync: a raw socket gets only its own flows meanwhile, through
// conntrack, but a packet socket's filter reads the port alone).
func TestAttackPacketReleasedPort(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	slices := map[string]*testSlice{}
	// The node's default: the filter follows the ports every second.
	srv, err := New(Config{Ports: udpHolders(p.SendNS, &mu, slices), NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	a := newSlice(t, srv, p.SendNS, 92)
	b := newSlice(t, srv, p.SendNS, 93)
	mu.Lock()
	slices[a.Name], slices[b.Name] = a, b
	mu.Unlock()
	var spy testutil.Buffer
	done := a.attack5(t, &spy, "pktrace", "6410", "2", "victim-port-secret")
	waitFor(t, &spy, "holding")
	var victim testutil.Buffer
	vdone := b.attack(t, &victim, "udpserve", "6410", "3")
	waitFor(t, &victim, "bound")
	// Only once slice b serves on the port: a host sends it a datagram
	// every 10ms.
	if err := nettest.InNS(p.RecvNS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for i := 0; i < 100; i++ {
			unix.Sendto(fd, []byte("victim-port-secret"), 0, &unix.SockaddrInet4{Addr: p.SendIP.As4(), Port: 6410})
			time.Sleep(10 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stolen := lastLine(done())
	if got := lastLine(vdone()); got == "served 0" || !strings.HasPrefix(got, "served ") {
		t.Fatalf("victim: %q, want it to serve", got)
	}
	if stolen != "got 0" {
		t.Fatalf("slice a's packet socket saw slice b's datagrams on the port a released: %q, want got 0", stolen)
	}
}

// TestAttackSpareHeld: a sliver whose raw socket() caller is killed
// while the agent makes its socket (the agent keeps that socket for the
// same call made again within a second) must not leave the agent holding
// the socket once that second is over: it counts toward the slice's
// bound and the agent's descriptors for as long as the sliver makes no
// other call.
func TestAttackSpareHeld(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 94)
	var out testutil.Buffer
	got := a.attack5(t, &out, "spare", "300")()
	if strings.Contains(got, "never held") {
		t.Logf("the agent never kept a socket for a killed caller: %s", got)
		return
	}
	if strings.Contains(got, "still held") {
		t.Fatalf("the agent still holds the socket of a caller killed 2.5s ago: %s", got)
	}
}

// nodeSendRate is how many 512-byte UDP datagrams a second the node (a
// plain socket in ns) sends to dst:9 over d.
func nodeSendRate(t *testing.T, ns string, dst [4]byte, d time.Duration) int {
	t.Helper()
	n := 0
	if err := nettest.InNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Addr: dst, Port: 9}); err != nil {
			return err
		}
		buf := make([]byte, 512)
		for end := time.Now().Add(d); time.Now().Before(end); {
			if _, err := unix.Write(fd, buf); err == nil {
				n++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return int(time.Duration(n) * time.Second / d)
}

// packetSocketsServer is a Server with the node's default bounds, and a
// sliver of it.
func packetSocketsServer(t *testing.T, p *nettest.Pair, index uint32) *testSlice {
	t.Helper()
	srv, err := New(Config{NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return newSlice(t, srv, p.SendNS, index)
}

// TestAttackPacketSocketsSlowNode: a slice holding every packet socket its
// bound allows, idle, must not slow the node's own traffic much: every
// socket's filter runs on every frame the node sends or receives.
func TestAttackPacketSocketsSlowNode(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	a := packetSocketsServer(t, p, 95)
	before := nodeSendRate(t, p.SendNS, p.RecvIP.As4(), time.Second)
	var out testutil.Buffer
	done := a.attack5(t, &out, "pktmany", fmt.Sprint(DefaultMaxPerSlice), "3")
	waitFor(t, &out, "ring ")
	during := nodeSendRate(t, p.SendNS, p.RecvIP.As4(), time.Second)
	got := done()
	t.Logf("node's datagrams/s alone %d, with slice a's packet sockets (%s) %d", before, strings.ReplaceAll(got, "\n", ", "), during)
	if during < before/2 {
		t.Errorf("the node sends %d datagrams/s while slice a holds its packet sockets (%s), %d alone", during, strings.ReplaceAll(got, "\n", ", "), before)
	}
}

// TestAttackPacketRingMemory: a slice opening every packet socket its
// bound allows, each with the largest receive ring the agent lets it
// map, must not hold more ring memory, which the kernel charges to no
// one, than the bound of one ring (--packet-ring-max-mib).
func TestAttackPacketRingMemory(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	a := packetSocketsServer(t, p, 96)
	var out testutil.Buffer
	got := a.attack5(t, &out, "pktmany", fmt.Sprint(DefaultMaxPerSlice), "0")()
	var opened, rings int
	fmt.Sscanf(got, "opened %d\nring %d", &opened, &rings)
	if opened == 0 || rings*DefaultMaxPacketRing > DefaultMaxPacketRing {
		t.Errorf("slice a holds %d receive rings of %d MiB (%d MiB the kernel charges to no one): %s", rings, DefaultMaxPacketRing>>20, rings*DefaultMaxPacketRing>>20, got)
	}
}

// TestAttackSocketOutlivesSliver: a slice hands its packet socket to a
// process of another slice it runs (slivers share the node's network
// namespace, and so its abstract Unix sockets); its sliver is deleted and
// a new slice's sliver gets the same netfilter index (it follows the UID
// range, which the node reuses). The kept socket must not see the new
// slice's traffic. Since Linux 6.12 the handoff itself fails (Landlock
// scopes abstract Unix sockets to the sliver).
func TestAttackSocketOutlivesSliver(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	held := map[string][]Port{}
	srv := newServer(t, p, func(name string) ([]Port, error) {
		mu.Lock()
		defer mu.Unlock()
		return held[name], nil
	})
	a := newSlice(t, srv, p.SendNS, 97)
	c := newSlice(t, srv, p.SendNS, 98)
	name := fmt.Sprintf("orbis-atk5-%d", time.Now().UnixNano())
	var kept testutil.Buffer
	kdone := c.attack5(t, &kept, "keeper", name, "8", "new-slice-secret")
	waitFor(t, &kept, "ready")
	var ho testutil.Buffer
	if got := a.attack5(t, &ho, "handoff", name)(); strings.Contains(got, "connect @") && strings.Contains(got, "operation not permitted") {
		// Landlock scopes abstract Unix sockets to the sliver (Linux
		// 6.12): no way to hand a socket to another slice.
		t.Logf("handoff refused: %s", got)
		return
	} else if got != "handed" {
		t.Fatalf("handoff: %s", got)
	}
	waitFor(t, &kept, "kept")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sandbox.Stop(ctx, a.cfg); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		srv.mu.Lock()
		gone := srv.slices[a.Name] == nil
		srv.mu.Unlock()
		if gone {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the server still serves the deleted sliver")
		}
	}
	// The new slice, with the deleted one's index, serves on its port.
	d := newSlice(t, srv, p.SendNS, 97)
	mu.Lock()
	held[d.Name] = []Port{{17, 6420}}
	mu.Unlock()
	var victim testutil.Buffer
	vdone := d.attack(t, &victim, "udpserve", "6420", "3")
	waitFor(t, &victim, "bound")
	if err := nettest.InNS(p.RecvNS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for i := 0; i < 50; i++ {
			unix.Sendto(fd, []byte("new-slice-secret"), 0, &unix.SockaddrInet4{Addr: p.SendIP.As4(), Port: 6420})
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := lastLine(vdone()); got == "served 0" || !strings.HasPrefix(got, "served ") {
		t.Fatalf("victim: %q, want it to serve", got)
	}
	if got := lastLine(kdone()); got != "got 0" {
		t.Fatalf("a packet socket of a deleted sliver, kept by another slice, sees the traffic of the new slice with its index: %q, want got 0", got)
	}
}

// TestAttackRawReleasedPortSend: on a node without a port manager (no
// Config.Claim), a slice that held a UDP port and releases it must not
// send from it, through the raw socket it opened meanwhile, once another
// slice serves on it (the table follows the port manager only at each
// sync).
func TestAttackRawReleasedPortSend(t *testing.T) {
	requireNotify(t)
	attackImage(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	slices := map[string]*testSlice{}
	srv, err := New(Config{Ports: udpHolders(p.SendNS, &mu, slices), NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	a := newSlice(t, srv, p.SendNS, 99)
	b := newSlice(t, srv, p.SendNS, 100)
	mu.Lock()
	slices[a.Name], slices[b.Name] = a, b
	mu.Unlock()
	var spy testutil.Buffer
	done := a.attack5(t, &spy, "rawrace", "6430", p.RecvIP.String(), "7", "2", "forged-from-b")
	waitFor(t, &spy, "holding")
	var victim testutil.Buffer
	vdone := b.attack(t, &victim, "udpserve", "6430", "3")
	waitFor(t, &victim, "bound")
	// Only what leaves once slice b holds the port counts.
	c := startCapture(t, p)
	got := done()
	vdone()
	if !strings.Contains(got, "sent ") {
		t.Fatalf("attacker: %s", got)
	}
	if n := c.seen("forged-from-b"); n != 0 {
		t.Fatalf("slice a's raw socket sent datagrams from the port slice b serves on: %d frames at the peer hold them (the datagrams and the peer's port unreachable errors quoting them; %s)", n, strings.ReplaceAll(got, "\n", ", "))
	}
}

var routed atomic.Uint32

// routedClient adds a namespace behind p's sending side, which routes
// between it and the receiving side (a node that forwards: a gateway, or
// a host of containers), and returns its path.
func routedClient(t *testing.T, p *nettest.Pair) string {
	t.Helper()
	n := routed.Add(1)
	ns := fmt.Sprintf("orbistest-c%d-%d", os.Getpid(), n)
	dev, peer := fmt.Sprintf("oba%d", os.Getpid()*10+int(n)%10), fmt.Sprintf("obb%d", os.Getpid()*10+int(n)%10)
	sendNS, recvNS := strings.TrimPrefix(p.SendNS, "/run/netns/"), strings.TrimPrefix(p.RecvNS, "/run/netns/")
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	for _, args := range [][]string{
		{"netns", "add", ns},
		{"link", "add", dev, "netns", sendNS, "type", "veth", "peer", "name", peer, "netns", ns},
		{"-n", sendNS, "addr", "add", "10.202.0.1/24", "dev", dev},
		{"-n", sendNS, "link", "set", dev, "up"},
		{"-n", ns, "addr", "add", "10.202.0.2/24", "dev", peer},
		{"-n", ns, "link", "set", peer, "up"},
		{"-n", ns, "link", "set", "lo", "up"},
		{"-n", ns, "route", "add", "default", "via", "10.202.0.1"},
		{"-n", recvNS, "route", "add", "10.202.0.0/24", "via", p.SendIP.String()},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	if err := nettest.InNS(p.SendNS, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	return "/run/netns/" + ns
}

// TestAttackPacketForwarded: on a node that forwards packets, a slice
// holding UDP port P must not see, on its packet socket, a forwarded flow
// between two other hosts that uses port P (the frames come to and from
// the node's own link address, but are not the node's).
func TestAttackPacketForwarded(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	nettest.Listen(t, p, 7, true)
	a := fmt.Sprintf("rawfd%d", slivers.Load()+1)
	srv := packetServer(t, p, map[string][]Port{a: {{17, 6440}}})
	sa := newSlice(t, srv, p.SendNS, 101)
	if sa.Name != a {
		t.Fatalf("slice %s, want %s", sa.Name, a)
	}
	client := routedClient(t, p)
	var spy testutil.Buffer
	done := sa.attack5(t, &spy, "pktcount", "3", "forwarded-secret")
	waitFor(t, &spy, "ready")
	echoes := 0
	if err := nettest.InNS(client, func() error {
		c, err := net.DialUDP("udp4", &net.UDPAddr{Port: 6440}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.RecvIP, 7)))
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		for i := 0; i < 10; i++ {
			c.Write([]byte("forwarded-secret"))
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := c.Read(buf); err == nil {
				echoes++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if echoes == 0 {
		t.Fatal("the forwarded flow got no echo: the test proves nothing")
	}
	if got := lastLine(done()); got != "got 0" {
		t.Fatalf("slice a's packet socket saw a flow the node forwards between two other hosts: %q, want got 0", got)
	}
}
