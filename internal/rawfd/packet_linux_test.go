package rawfd

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// packetPorts gives slices named by pktSlices their ports.
func packetServer(t *testing.T, p *nettest.Pair, held map[string][]Port) *Server {
	t.Helper()
	return newServer(t, p, func(name string) ([]Port, error) { return held[name], nil })
}

// udpFrom sends n datagrams from the node's port sport to the peer's
// echo port, reading the echoes.
func udpFrom(t *testing.T, p *nettest.Pair, sport, dport, n int) {
	t.Helper()
	var c *net.UDPConn
	err := nettest.InNS(p.SendNS, func() (err error) {
		c, err = net.DialUDP("udp4", &net.UDPAddr{Port: sport}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.RecvIP, uint16(dport))))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 64)
	for i := 0; i < n; i++ {
		c.Write([]byte("flow"))
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		c.Read(buf)
	}
}

// TestPacketSocketSeesOnlyItsSlice: two slivers' packet sockets, one
// bound to the node's device and one to every device, while each slice
// and the node (a TCP service, as SSH) have traffic: each sees its own
// slice's flows both ways and nothing of the other's or the node's.
func TestPacketSocketSeesOnlyItsSlice(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	nettest.Listen(t, p, 7, true)
	a, b := fmt.Sprintf("rawfd%d", slivers.Load()+1), fmt.Sprintf("rawfd%d", slivers.Load()+2)
	srv := packetServer(t, p, map[string][]Port{a: {{17, 5000}}, b: {{17, 5001}}})
	sa := newSlice(t, srv, p.SendNS, 81)
	sb := newSlice(t, srv, p.SendNS, 82)
	if sa.Name != a || sb.Name != b {
		t.Fatalf("slices %s, %s: want %s, %s", sa.Name, sb.Name, a, b)
	}
	// The node's service, and a client of it on the peer.
	var l net.Listener
	if err := nettest.InNS(p.SendNS, func() (err error) {
		l, err = net.Listen("tcp4", ":2222")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-node\r\n"))
			c.Close()
		}
	}()
	var outA, outB testutil.Buffer
	// Until killed once the traffic is over (a sliver may take seconds
	// to start under emulation).
	pa := sa.start(t, &outA, "pkt", "listen", p.SendDev, "120")
	pb := sb.start(t, &outB, "pkt", "listen", "any", "120")
	waitFor(t, &outA, "ready")
	waitFor(t, &outB, "ready")
	udpFrom(t, p, 5000, 7, 3)
	udpFrom(t, p, 5001, 7, 3)
	if err := nettest.InNS(p.RecvNS, func() error {
		c, err := net.DialTimeout("tcp4", netip.AddrPortFrom(p.SendIP, 2222).String(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(buf)
		return err
	}); err != nil {
		t.Fatalf("the node's service: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // the last replies
	pa.Signal(9)
	pb.Signal(9)
	pa.Wait()
	pb.Wait()
	check := func(name, out, own, other string) {
		t.Helper()
		for _, want := range []string{"saw 17 " + own + " 7", "saw 17 7 " + own} {
			if !strings.Contains(out, want) {
				t.Errorf("%s's packet socket: no %q (its own flow) in:\n%s", name, want, out)
			}
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "saw") && (strings.Contains(line, " "+other) || strings.Contains(line, " 2222") || !strings.Contains(line, " "+own)) {
				t.Errorf("%s's packet socket saw what is not its slice's: %q", name, line)
			}
		}
	}
	check(a, outA.String(), "5000", "5001")
	check(b, outB.String(), "5001", "5000")
}

// TestPacketSocketCannotSend: frames a sliver sends on its packet socket
// (sendto and write) never reach the peer, while the same frame sent by
// the node on a packet socket of its own does (so the capture sees them).
func TestPacketSocketCannotSend(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := packetServer(t, p, nil)
	s := newSlice(t, srv, p.SendNS, 83)
	c := startCapture(t, p)
	out := s.probe(t, "pkt", "send", p.SendDev, "SLIVERFRAME")
	if !strings.Contains(out, "sendto") {
		t.Fatalf("probe: %s", out)
	}
	sendNodeFrame(t, p.SendNS, p.SendDev, "NODEFRAME")
	if n := c.seen("NODEFRAME"); n == 0 {
		t.Fatal("the capture missed the node's own frame")
	}
	if n := c.seen("SLIVERFRAME"); n != 0 {
		t.Fatalf("%d frames the sliver sent on its packet socket reached the peer (probe: %s)", n, out)
	}
	t.Logf("sliver's sends: %s", strings.ReplaceAll(out, "\n", "; "))
}

// sendNodeFrame sends a broadcast frame holding mark on dev in ns, as
// the node (root, no mark).
func sendNodeFrame(t *testing.T, ns, dev, mark string) {
	t.Helper()
	if err := nettest.InNS(ns, func() error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		frame := make([]byte, 60)
		copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		frame[12], frame[13] = 0x08, 0x00
		copy(frame[40:], mark)
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Protocol: htons(0x0800), Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}})
	}); err != nil {
		t.Fatal(err)
	}
}

// TestPacketSocketTamper: a sliver cannot detach, replace or unlock its
// packet socket's filter, change its mark, bypass the egress hook, join a
// fanout group, put the device in promiscuous mode, map a send ring or a
// receive ring past the bound; a ring within it and a bind to another
// protocol work.
func TestPacketSocketTamper(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := packetServer(t, p, nil)
	s := newSlice(t, srv, p.SendNS, 84)
	out := s.probe(t, "pkt", "tamper", p.SendDev)
	for _, name := range []string{"detach", "attach", "unlock", "mark", "qdisc_bypass", "fanout", "promisc", "tx_ring", "rx_ring_huge"} {
		if !strings.Contains(out, name+": ") || strings.Contains(out, name+": ok") {
			t.Errorf("%s: not refused:\n%s", name, out)
		}
	}
	for _, name := range []string{"version", "rx_ring", "rebind"} {
		if !strings.Contains(out, name+": ok") {
			t.Errorf("%s: refused:\n%s", name, out)
		}
	}
	t.Logf("%s", out)
}

// TestPacketSocketNewDevice: a device the node makes while a sliver holds
// a packet socket gets the egress chain when the agent sees its link
// event (here no periodic sync runs): a frame the sliver sends on it once
// it is up never reaches the other end. (Between the device's creation
// and that event, a few milliseconds, it has no chain: a device brought up
// within them could carry a frame.)
func TestPacketSocketNewDevice(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv, err := New(Config{NetNS: p.SendNS, SyncEvery: time.Hour, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(true) })
	s := newSlice(t, srv, p.SendNS, 87)
	dev, peerDev := p.SendDev+"n", p.RecvDev+"n"
	sendNS, recvNS := strings.TrimPrefix(p.SendNS, "/run/netns/"), strings.TrimPrefix(p.RecvNS, "/run/netns/")
	var out testutil.Buffer
	proc := s.start(t, &out, "pkt", "sendwait", dev, "NEWDEVFRAME")
	waitFor(t, &out, "opened")
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("-n", recvNS, "link", "add", peerDev, "type", "veth", "peer", "name", dev+"x")
	ip("-n", recvNS, "link", "set", peerDev, "up")
	c := startCaptureOn(t, p.RecvNS, peerDev)
	// Created in the node's namespace, down; up a moment later.
	ip("-n", recvNS, "link", "set", dev+"x", "netns", sendNS, "name", dev)
	time.Sleep(300 * time.Millisecond)
	ip("-n", sendNS, "link", "set", dev, "up")
	proc.Wait()
	if !strings.Contains(out.String(), "sendto") {
		t.Fatalf("probe: %s", out.String())
	}
	if n := c.seen("NEWDEVFRAME"); n != 0 {
		t.Fatalf("%d frames the sliver sent on a new device reached its peer (probe: %s)", n, out.String())
	}
	// The capture works: the node's own frame on the device arrives.
	sendNodeFrame(t, p.SendNS, dev, "NODEFRAME")
	if c.seen("NODEFRAME") == 0 {
		t.Fatal("the capture missed the node's own frame")
	}
}
