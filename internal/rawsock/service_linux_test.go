package rawsock

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/orbisproject/orbis/api"
	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestService runs the service in namespace A of a chain A - R - B and
// unprivileged sliver processes against it; R's capture is the wire.
func TestService(t *testing.T) {
	// The tests below stand for the sliver's own sockets on its ports
	// with the test's (root's): no recheck, which would count them as the
	// node's (TestPortHijack tests it).
	c, dir, sock, uidA := newServiceChain(t, func(cfg *Config) { cfg.RecheckEvery = time.Hour })
	onWire := sniff(t, c.R)

	t.Run("SendChecked", func(t *testing.T) {
		p := startSliver(t, c.A, dir, uidA, sock, "send", c.a.String(), c.ra.String())
		var out []string
		for range 5 {
			out = append(out, p.line(t))
		}
		// The service's raw socket for this sliver belongs to its UID,
		// so the node's per-slice tagging sees the slice's packets.
		if owners := rawSocketOwners(t, c.A); !slices.Contains(owners, uidA) {
			t.Errorf("raw sockets in the node belong to %v, none to the sliver's uid %d", owners, uidA)
		}
		p.lines(t)
		wantLines(t, out, []string{
			"orbis-good: refused=false <nil>",
			"orbis-forged-port: refused=true raw socket service: packet refused: source port 5001 is not the bound port 5000",
			"orbis-forged-addr: refused=true raw socket service: packet refused: source address 10.202.1.99 is not one of this node's that the socket may use",
			"orbis-sendto: refused=false <nil>",
			"orbis-sendto-forged-port: refused=true raw socket service: packet refused: source port 5002 is not the bound port 5000",
		})
		for _, good := range []string{"orbis-good", "orbis-sendto"} {
			if !onWire.waitFor(2*time.Second, udpFrom(c.a, 5000, good)) {
				t.Errorf("%s: not seen on the wire from %s:5000", good, c.a)
			}
		}
		if n := onWire.count(payload("orbis-forged")) + onWire.count(payload("forged-port")); n > 0 {
			t.Errorf("%d refused packets reached the wire", n)
		}
	})

	t.Run("Queue", func(t *testing.T) { testQueue(t, c, dir, sock, uidA, onWire) })
	t.Run("BatchProtocol", func(t *testing.T) { testBatchProtocol(t, c, dir, sock, uidA, onWire) })

	t.Run("BindNotOwned", func(t *testing.T) {
		out := startSliver(t, c.A, dir, uidA, sock, "bind", "udp/6000", "udp/5001").lines(t)
		wantLines(t, out, []string{
			"bind udp/6000: refused=true bind raw socket: raw socket service: udp port 6000 is reserved for another slice",
			"bind udp/5001: refused=true bind raw socket: raw socket service: slice orbistest-a does not own udp port 5001",
		})
	})

	t.Run("UnknownUID", func(t *testing.T) {
		_, err := wire.Dial(testutil.Context(t), sock, wire.ProtoUDP, 5000)
		if !errors.Is(err, wire.ErrRefused) || !strings.Contains(err.Error(), "uid 0 is no sliver's") {
			t.Fatalf("root (no sliver) got %v, want a refusal", err)
		}
	})

	t.Run("Receive", func(t *testing.T) { testReceive(t, c, dir, sock, uidA, onWire) })
	t.Run("ReceiveTCP", func(t *testing.T) { testReceiveTCP(t, c, dir, sock, uidA, onWire) })
	t.Run("Sniff", func(t *testing.T) { testSniff(t, c, dir, sock, uidA) })
	t.Run("Plabdump", func(t *testing.T) { testPlabdump(t, c, dir, sock, uidA) })
	t.Run("BoundedQueue", func(t *testing.T) { testFlood(t, c, dir, sock, uidA) })

	t.Run("ICMPIdentifierFirstCome", func(t *testing.T) {
		holder := startSliver(t, c.A, dir, uidA, sock, "hold", "icmp/4242")
		if got := holder.line(t); got != "bound" {
			t.Fatalf("holder said %q", got)
		}
		out := startSliver(t, c.A, dir, uidA+1, sock, "bind", "icmp/4242").lines(t)
		wantLines(t, out, []string{"bind icmp/4242: refused=true bind raw socket: raw socket service: icmp/4242 is already bound to a raw socket"})
		holder.lines(t)
		out = startSliver(t, c.A, dir, uidA+1, sock, "bind", "icmp/4242").lines(t)
		wantLines(t, out, []string{"bind icmp/4242: refused=false <nil>"})
	})

	t.Run("Ping", func(t *testing.T) {
		for _, dst := range []netip.Addr{c.b, c.b6} {
			out := startSliver(t, c.A, dir, uidA, sock, "ping", dst.String()).lines(t)
			wantLines(t, out, []string{"1 " + dst.String(), "2 " + dst.String(), "3 " + dst.String()})
		}
	})

	t.Run("PingOrbisCommand", func(t *testing.T) {
		bin := filepath.Join(dir, "ping-orbis")
		build := exec.Command("go", "build", "-o", bin, "./cmd/ping-orbis")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("build ping-orbis: %v: %s", err, out)
		}
		id := fmt.Sprint(uidA)
		for _, args := range [][]string{{"-c", "2", "-i", "100ms"}, {"-t"}} {
			args = append([]string{"--net=" + c.A, "--setuid=" + id, "--setgid=" + id, "--", bin, "-S", sock}, append(args, c.b.String())...)
			out, err := exec.Command("nsenter", args...).CombinedOutput()
			t.Logf("ping-orbis %v:\n%s", args[5:], out)
			if err != nil || !strings.Contains(string(out), "reply from "+c.b.String()) && !strings.Contains(string(out), " 2  "+c.b.String()) {
				t.Fatalf("ping-orbis %v: %v", args[5:], err)
			}
		}
	})

	t.Run("Traceroute", func(t *testing.T) {
		for _, hops := range [][2]netip.Addr{{c.ra, c.b}, {c.ra6, c.b6}} {
			out := startSliver(t, c.A, dir, uidA, sock, "traceroute", hops[1].String()).lines(t)
			wantLines(t, out, []string{"1 " + hops[0].String(), "2 " + hops[1].String()})
		}
	})
}

// startService serves on sock in c's namespace A, for two slices: uid
// is orbistest-a's, uid+1 orbistest-b's. A port is held as on a node
// (portmgr.ReadHolders of the namespace's socket tables), with
// reservations standing in for the port manager's: udp/5000 and tcp/5000
// for orbistest-a, udp/6000 for orbistest-b. Receive queues hold 16
// packets. edit, if not nil, changes the Config before Serve.
func startService(t testing.TB, c *chain, sock string, uid uint32, edit func(*Config)) {
	l, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	owner := func(u uint32) (string, bool) {
		switch u {
		case uid:
			return "orbistest-a", true
		case uid + 1:
			return "orbistest-b", true
		}
		return "", false
	}
	reserved := map[api.Port]string{
		{Proto: "tcp", Port: 5000}: "orbistest-a", {Proto: "udp", Port: 5000}: "orbistest-a",
		{Proto: "udp", Port: 6000}: "orbistest-b",
	}
	cfg := Config{
		Owner: owner,
		Holders: func() (hs *portmgr.Holders, err error) {
			nerr := nettest.InNS(c.A, func() error {
				hs, err = portmgr.ReadHolders("/proc/thread-self", owner, reserved)
				return nil
			})
			return hs, errors.Join(nerr, err)
		},
		NodeAddrs: func() []netip.Addr { return []netip.Addr{c.a, c.a6} },
		Log:       testutil.Logger(t),
		NetNS:     c.A,
		Limits:    Limits{QueueLen: 16},
	}
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, l, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		d := &dropper{nsfd: -1}
		if err := nettest.InNS(c.A, func() error {
			conn, err := d.conn()
			if err != nil {
				return err
			}
			if tab, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyINet); err == nil && tab != nil {
				return fmt.Errorf("nft table %s left behind", TableName)
			}
			return nil
		}); err != nil {
			t.Errorf("after Serve: %v", err)
		}
	})
}

// testReceive: the peer sends to the bound port; the sliver gets the
// packet with its headers and the node's kernel stays silent, until the
// socket is closed.
func testReceive(t *testing.T, c *chain, dir, sock string, uid uint32, onWire *sniffer) {
	p := startSliver(t, c.A, dir, uid, sock, "recv", "udp/5000")
	if got := p.line(t); got != "bound" {
		t.Fatalf("sliver said %q, want bound", got)
	}
	var conn *net.UDPConn
	err := nettest.InNS(c.R, func() (err error) {
		conn, err = net.DialUDP("udp4", &net.UDPAddr{IP: c.ra.AsSlice(), Port: 7000}, &net.UDPAddr{IP: c.a.AsSlice(), Port: 5000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("orbis-to-sliver"))
	pkt, err := hex.DecodeString(p.line(t))
	if err != nil {
		t.Fatal(err)
	}
	p.lines(t)
	if !udpTo(c.ra, c.a, 5000, "orbis-to-sliver")(pkt) {
		t.Fatalf("sliver received %x, want the IPv4+UDP packet from %s to %s:5000", pkt, c.ra, c.a)
	}
	if n := onWire.count(unreachableFrom(c.a)); n > 0 {
		t.Fatalf("the node's kernel answered the bound port with %d ICMP unreachable", n)
	}
	// Once the socket is closed the kernel's stack has the port back:
	// it answers with port unreachable (which proves the silence above
	// was the service's doing).
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		conn.Write([]byte("orbis-after-close"))
		if onWire.waitFor(200*time.Millisecond, unreachableFrom(c.a)) {
			return
		}
	}
	t.Fatal("after close, the node's kernel still does not answer the port")
}

func wantLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sliver printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// payload matches packets carrying s.
func payload(s string) func([]byte) bool {
	return func(p []byte) bool { return bytes.Contains(p, []byte(s)) }
}

// udpFrom matches an IPv4 UDP packet from src:sport carrying s.
func udpFrom(src netip.Addr, sport uint16, s string) func([]byte) bool {
	return func(p []byte) bool {
		q, ok := receivedIP(p)
		return ok && len(p) >= 20 && netip.AddrFrom4([4]byte(p[12:16])) == src && q.proto == 17 &&
			len(q.l4) >= 8 && binary.BigEndian.Uint16(q.l4) == sport && bytes.Contains(q.l4[8:], []byte(s))
	}
}

// udpTo matches an IPv4 UDP packet from src to dst:dport carrying s.
func udpTo(src, dst netip.Addr, dport uint16, s string) func([]byte) bool {
	return func(p []byte) bool {
		q, ok := receivedIP(p)
		return ok && q.proto == 17 && len(q.l4) >= 8 && q.dst == dst &&
			binary.BigEndian.Uint16(q.l4[2:]) == dport && udpFrom(src, binary.BigEndian.Uint16(q.l4), s)(p)
	}
}

// unreachableFrom matches an ICMP destination unreachable sent by src.
func unreachableFrom(src netip.Addr) func([]byte) bool {
	return func(p []byte) bool {
		q, ok := receivedIP(p)
		return ok && q.proto == 1 && netip.AddrFrom4([4]byte(p[12:16])) == src && len(q.l4) > 0 && q.l4[0] == 3
	}
}

// testReceiveTCP: a SYN to the bound TCP port reaches the sliver and the
// node's kernel sends no RST, until the socket is closed.
func testReceiveTCP(t *testing.T, c *chain, dir, sock string, uid uint32, onWire *sniffer) {
	p := startSliver(t, c.A, dir, uid, sock, "recv", "tcp/5000")
	if got := p.line(t); got != "bound" {
		t.Fatalf("sliver said %q, want bound", got)
	}
	dial := func() error {
		return nettest.InNS(c.R, func() error {
			conn, err := net.DialTimeout("tcp4", netip.AddrPortFrom(c.a, 5000).String(), 300*time.Millisecond)
			if err == nil {
				conn.Close()
			}
			return err
		})
	}
	if err := dial(); err == nil || strings.Contains(err.Error(), "refused") {
		t.Fatalf("connect to the bound port: %v, want a timeout (no RST)", err)
	}
	pkt, err := hex.DecodeString(p.line(t))
	if err != nil {
		t.Fatal(err)
	}
	p.lines(t)
	q, ok := receivedIP(pkt)
	if !ok || q.proto != 6 || q.dst != c.a || binary.BigEndian.Uint16(q.l4[2:]) != 5000 || q.l4[13]&0x02 == 0 {
		t.Fatalf("sliver received %x, want a SYN to %s:5000", pkt, c.a)
	}
	if n := onWire.count(rstFrom(c.a)); n > 0 {
		t.Fatalf("the node's kernel sent %d RSTs for the bound port", n)
	}
	if err := dial(); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("connect after close: %v, want connection refused (the kernel has the port back)", err)
	}
}

// rstFrom matches a TCP RST sent by src.
func rstFrom(src netip.Addr) func([]byte) bool {
	return func(p []byte) bool {
		q, ok := receivedIP(p)
		return ok && q.proto == 6 && netip.AddrFrom4([4]byte(p[12:16])) == src && len(q.l4) >= 20 && q.l4[13]&0x04 != 0
	}
}

// testFlood: a sliver that does not read loses packets past its queue,
// and the counters say how many.
func testFlood(t *testing.T, c *chain, dir, sock string, uid uint32) {
	const sent = 500
	p := startSliver(t, c.A, dir, uid, sock, "flood")
	if got := p.line(t); got != "bound" {
		t.Fatalf("sliver said %q, want bound", got)
	}
	conn := peerToUDP5000(t, c)
	for range sent {
		conn.Write([]byte("orbis-flood"))
	}
	time.Sleep(300 * time.Millisecond)
	io.WriteString(p.in, "go\n")
	var read, received, dropped int
	if _, err := fmt.Sscanf(p.line(t), "read=%d received=%d dropped=%d", &read, &received, &dropped); err != nil {
		t.Fatal(err)
	}
	p.lines(t)
	t.Logf("sent %d: relayed %d, dropped %d, read %d", sent, received, dropped, read)
	if dropped == 0 || read != received || received+dropped > sent || received < 16 {
		t.Fatalf("sent %d to a sliver that did not read: relayed %d, dropped %d, read %d", sent, received, dropped, read)
	}
}

// peerToUDP5000 is a UDP socket of the peer R connected to the node's
// udp/5000, closed when the test ends.
func peerToUDP5000(t *testing.T, c *chain) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	err := nettest.InNS(c.R, func() (err error) {
		conn, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: c.a.AsSlice(), Port: 5000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rawSocketOwners returns the UIDs owning the raw sockets in netns ns.
func rawSocketOwners(t *testing.T, ns string) []uint32 {
	var data []byte
	err := nettest.InNS(ns, func() (err error) {
		data, err = os.ReadFile("/proc/thread-self/net/raw")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var uids []uint32
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 7 {
			uid, _ := strconv.ParseUint(f[7], 10, 32)
			uids = append(uids, uint32(uid))
		}
	}
	return uids
}
