package rawsock

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// childSniff opens a sniffer on b (or says why not), says "bound", tries to send on it and
// prints the result, then prints the next count packets in hex.
func childSniff(ctx context.Context, sock string, b Binding, count int) error {
	c, err := wire.Sniff(ctx, sock, b.Proto, b.Port)
	if err != nil {
		fmt.Printf("sniff %s: refused=%v %v\n", b, errors.Is(err, wire.ErrRefused), err)
		return nil
	}
	defer c.Close()
	fmt.Println("bound")
	err = c.SendTo(ctx, netip.MustParseAddr("10.202.1.2"), 0, udpSeg(b.Port, 7000, "orbis-from-sniffer"))
	fmt.Printf("send: refused=%v %v\n", errors.Is(err, wire.ErrRefused), err)
	for range count {
		p, err := c.Receive(ctx)
		if err != nil {
			return err
		}
		fmt.Println(hex.EncodeToString(p))
	}
	return nil
}

// exchange has the peer R send ping to the node's udp/5000, where a
// normal socket of the node answers pong: one packet each way. It fails
// the test unless both arrive, so the kernel's stack keeps the port.
func exchange(t *testing.T, c *chain, ping, pong string) {
	t.Helper()
	var node, peer *net.UDPConn
	err := nettest.InNS(c.A, func() (err error) {
		node, err = net.ListenUDP("udp4", &net.UDPAddr{IP: c.a.AsSlice(), Port: 5000})
		return err
	})
	if err == nil {
		defer node.Close()
		err = nettest.InNS(c.R, func() (err error) {
			peer, err = net.DialUDP("udp4", &net.UDPAddr{IP: c.ra.AsSlice(), Port: 7001}, &net.UDPAddr{IP: c.a.AsSlice(), Port: 5000})
			return err
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	buf := make([]byte, 100)
	node.SetReadDeadline(time.Now().Add(3 * time.Second))
	peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := peer.Write([]byte(ping)); err != nil {
		t.Fatal(err)
	}
	n, from, err := node.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != ping {
		t.Fatalf("the node's socket on the sniffed port got %q, %v", buf[:n], err)
	}
	if _, err := node.WriteToUDP([]byte(pong), from); err != nil {
		t.Fatal(err)
	}
	if n, err = peer.Read(buf); err != nil || string(buf[:n]) != pong {
		t.Fatalf("the peer got %q, %v", buf[:n], err)
	}
}

// testSniff: a sniffer on an owned port gets both directions of an
// exchange with their headers, cannot send, and leaves the port to the
// kernel; a sniffer on a port the slice does not own is refused.
func testSniff(t *testing.T, c *chain, dir, sock string, uid uint32) {
	p := startSliver(t, c.A, dir, uid, sock, "sniff", "udp/5000", "2")
	if got := p.line(t); got != "bound" {
		t.Fatalf("sliver said %q, want bound", got)
	}
	if got, want := p.line(t), "send: refused=true raw socket service: a sniffer socket cannot send"; got != want {
		t.Errorf("sniffer send: %q, want %q", got, want)
	}
	exchange(t, c, "orbis-sniff-ping", "orbis-sniff-pong")
	var got [][]byte
	for range 2 {
		pkt, err := hex.DecodeString(p.line(t))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, pkt)
	}
	p.lines(t)
	if len(got) != 2 || !udpTo(c.ra, c.a, 5000, "orbis-sniff-ping")(got[0]) || !udpTo(c.a, c.ra, 7001, "orbis-sniff-pong")(got[1]) {
		t.Fatalf("sniffer got %x, want the IPv4+UDP ping %s:7001 -> %s:5000, then the pong back", got, c.ra, c.a)
	}

	out := startSliver(t, c.A, dir, uid+1, sock, "sniff", "udp/5000", "0").lines(t)
	wantLines(t, out, []string{"sniff udp/5000: refused=true bind raw socket: raw socket service: udp port 5000 is reserved for another slice"})
}

// testPlabdump runs plabdump as the sliver's UID and checks that its
// standard output is a pcap file of the exchange.
func testPlabdump(t *testing.T, c *chain, dir, sock string, uid uint32) {
	bin := filepath.Join(dir, "plabdump")
	build := exec.Command("go", "build", "-o", bin, "./cmd/plabdump")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build plabdump: %v: %s", err, out)
	}
	id := fmt.Sprint(uid)
	cmd := exec.Command("nsenter", "--net="+c.A, "--setuid="+id, "--setgid="+id, "--", bin, "-S", sock, "-u", "-p", "5000", "-c", "2")
	var stdout, stderr testutil.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// The pcap header is written once the sniffer is bound.
	for end := time.Now().Add(5 * time.Second); stdout.Len() < 24 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	exchange(t, c, "orbis-dump-ping", "orbis-dump-pong")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("plabdump: %v: %s", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("plabdump did not exit after 2 packets: %s", stderr.String())
	}
	t.Logf("plabdump: %s", stderr.String())
	pkts := parsePcap(t, stdout.Bytes())
	if len(pkts) != 2 || !udpTo(c.ra, c.a, 5000, "orbis-dump-ping")(pkts[0]) || !udpTo(c.a, c.ra, 7001, "orbis-dump-pong")(pkts[1]) {
		t.Fatalf("pcap records %x, want the ping and the pong", pkts)
	}
}

// parsePcap reads a little-endian pcap file of link type raw IP, as
// tcpdump would, and returns its packets.
func parsePcap(t *testing.T, b []byte) [][]byte {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < 24 || le.Uint32(b) != wire.PcapMagic || le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 || le.Uint32(b[20:]) != wire.LinkTypeRaw {
		t.Fatalf("not a pcap file of raw IP: %x", b[:min(len(b), 24)])
	}
	var pkts [][]byte
	for b = b[24:]; len(b) > 0; {
		if len(b) < 16 || int(le.Uint32(b[8:])) > len(b)-16 || le.Uint32(b[8:]) > le.Uint32(b[12:]) {
			t.Fatalf("truncated pcap record: %x", b)
		}
		n := le.Uint32(b[8:])
		pkts = append(pkts, b[16:16+n])
		b = b[16+n:]
	}
	return pkts
}
