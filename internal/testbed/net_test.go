package testbed_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestSliverNetwork brings up two nodes and checks what a slice's users
// see of the node's network: a port held by one slice's sliver cannot be
// bound by another slice's on the same node, and a slice whose admin set
// net_max_rate = 1000 (kbit/s) sends at 1 Mbit/s from its sliver, as
// measured on the wire at the receiving node.
func TestSliverNetwork(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	key := newUser(t, p, "net@orbis.test")
	holder, other := testbed.Site+"_nethold", testbed.Site+"_netother"
	for _, s := range []string{holder, other} {
		newSlice(p, s, "net@orbis.test")
	}
	// Set before the slice reaches the nodes: the first rspec has it.
	p.call("AddSliceTag", other, "net_max_rate", "1000")
	p.call("AddSliceToNodes", holder, []any{st.Nodes[0].Hostname})
	p.call("AddSliceToNodes", other, hostnames(st))
	waitRunning(t, p, holder, 1)
	waitRunning(t, p, other, 2)

	t.Run("PortHeldByAnotherSlice", func(t *testing.T) {
		n := st.Nodes[0]
		ssh(t, key, holder, n, "nc -l -p 5555 </dev/null >/dev/null 2>&1 &")
		waitFor(t, "the holder's listener", 5*time.Second, func() bool {
			return strings.Contains(ssh(t, key, holder, n, "netstat -ltn"), ":5555 ")
		})
		out := ssh(t, key, other, n, "timeout 2 nc -l -p 5555 </dev/null; echo rc=$?")
		if !strings.Contains(out, "in use") || strings.Contains(out, "rc=0") {
			t.Errorf("slice %s binding the port %s holds on %s:\n%s", other, holder, n.Hostname, out)
		}
	})

	t.Run("MaxRate", func(t *testing.T) {
		from, to := st.Nodes[0], st.Nodes[1]
		ssh(t, key, other, to, "(sleep 30 | nc -l -p 6000) </dev/null >/dev/null 2>&1 &")
		waitFor(t, "the receiver's listener", 5*time.Second, func() bool {
			return strings.Contains(ssh(t, key, other, to, "netstat -ltn"), ":6000 ")
		})
		wire := captureFrom(t, to, from.Addr, 6000)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sent := make(chan string, 1)
		go func() {
			// 600 KiB: about 5 s at 1 Mbit/s, more than the window.
			out, _ := sshCmd(ctx, key, other, from, "dd if=/dev/zero bs=1k count=600 2>/dev/null | timeout 7 nc "+to.Addr+" 6000").CombinedOutput()
			sent <- string(out)
		}()
		kbps := wire.rate(t, 500*time.Millisecond, 3*time.Second)
		t.Logf("sliver of %s on %s to %s with net_max_rate=1000: %.1f kbit/s on the wire", other, from.Hostname, to.Hostname, kbps)
		if kbps < 950 || kbps > 1050 {
			t.Errorf("rate %.1f kbit/s, want 1000 ± 5%%", kbps)
		}
		cancel()
		t.Logf("sender: %s", <-sent)
	})
}

// capture counts, at a node, the link-layer bytes of TCP segments from
// src to port: what the sender's HTB class counts.
type capture struct {
	fd   int
	src  netip.Addr
	port uint16
}

// captureFrom opens a packet socket in node n's namespace.
func captureFrom(t *testing.T, n testbed.Node, src string, port uint16) *capture {
	c := &capture{fd: -1, src: netip.MustParseAddr(src), port: port}
	err := nettest.InNS(n.Netns, func() (err error) {
		c.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
		return err
	})
	if err != nil {
		t.Fatalf("packet socket in %s: %v", n.Netns, err)
	}
	t.Cleanup(func() { unix.Close(c.fd) })
	unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	return c
}

// rate waits for the first matching packet, skips the next skip (the
// connection's start and the class's burst) and returns, in kbit/s, the
// rate between the first packet after that and the last one within
// window: the bytes of the packets from the one up to before the other
// over the time between them. The sender's segmentation offload makes
// packets of up to tens of kilobytes, and HTB sends a packet when the
// class has tokens and then waits for it to be paid for: a packet's
// bytes stand for the time until the next one, so counting from one
// arrival to another keeps their sizes out of the window's edges.
func (c *capture) rate(t *testing.T, skip, window time.Duration) float64 {
	buf := make([]byte, 65536)
	var first, from, last time.Time
	var bytes, counted int
	for deadline := time.Now().Add(15 * time.Second); ; {
		now := time.Now()
		if now.After(deadline) {
			t.Fatalf("traffic from %s to port %d: not a steady flow over %v within 15 s (first packet at %v)", c.src, c.port, skip+window, first)
		}
		if !from.IsZero() && now.After(from.Add(window)) {
			break
		}
		k, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil || !c.match(buf[:k]) {
			continue
		}
		now = time.Now()
		switch {
		case first.IsZero():
			first = now
		case from.IsZero() && now.After(first.Add(skip)):
			from, counted = now, frameBytes(buf[:k])
		case !from.IsZero() && now.Before(from.Add(window)):
			bytes, last = counted, now
			counted += frameBytes(buf[:k])
		}
	}
	if last.IsZero() {
		t.Fatalf("one packet from %s to port %d in %v", c.src, c.port, window)
	}
	return float64(bytes) * 8 / last.Sub(from).Seconds() / 1000
}

// match reports whether p is an IPv4 TCP packet from c.src to c.port.
func (c *capture) match(p []byte) bool {
	if len(p) < 20 || p[9] != unix.IPPROTO_TCP || netip.AddrFrom4([4]byte(p[12:16])) != c.src {
		return false
	}
	l4 := p[int(p[0]&0xf)*4:]
	return len(l4) >= 20 && binary.BigEndian.Uint16(l4[2:]) == c.port
}

// mss is the senders' TCP segment size on the testbed's 1500-byte links
// (timestamps on).
const mss = 1448

// frameBytes is what the sender's HTB class counted for the IPv4 TCP
// packet p: its Ethernet frames. A packet the receiving side's GRO merged
// stands for several segments, each with its own headers.
func frameBytes(p []byte) int {
	hdr := int(p[0]&0xf)*4 + int(p[int(p[0]&0xf)*4+12]>>4)*4
	payload := int(binary.BigEndian.Uint16(p[2:])) - hdr
	segs := max(1, (payload+mss-1)/mss)
	return payload + segs*(hdr+14)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
