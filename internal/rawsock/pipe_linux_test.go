package rawsock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// childQueue queues, with protocol version 2, a good packet, one from
// another port, one from a forged address, and two segments the service
// wraps (one from another port), then flushes and prints what became of
// each packet by its sequence number; args are the node's and the peer's
// addresses.
func childQueue(ctx context.Context, sock string, args []string) error {
	node, peer := netip.MustParseAddr(args[0]), netip.MustParseAddr(args[1])
	c, err := wire.Dial(ctx, sock, wire.ProtoUDP, 5000)
	if err != nil {
		return err
	}
	defer c.Close()
	names := map[uint32]string{}
	var order []string
	for _, p := range []struct {
		name    string
		src     netip.Addr
		sport   uint16
		hdrincl bool
	}{
		{"orbisq-good", node, 5000, true},
		{"orbisq-forged-port", node, 5001, true},
		{"orbisq-forged-addr", netip.MustParseAddr("10.202.1.99"), 5000, true},
		{"orbisq-sendto", node, 5000, false},
		{"orbisq-sendto-forged-port", node, 5002, false},
	} {
		seg := udpSeg(p.sport, 7000, p.name)
		var seq uint32
		if p.hdrincl {
			seq, err = c.Queue(ctx, ip(p.src, peer, wire.ProtoUDP, seg))
		} else {
			seq, err = c.QueueTo(ctx, peer, 0, seg)
		}
		if err != nil {
			return err
		}
		names[seq] = p.name
		order = append(order, p.name)
	}
	said := map[string]string{}
	err = c.Flush(ctx)
	for _, e := range unjoin(err) {
		var se *wire.SendError
		if !errors.As(e, &se) {
			return fmt.Errorf("flush: %w", e)
		}
		said[names[se.Seq]] = fmt.Sprintf("refused=%v %v", errors.Is(se, wire.ErrRefused), se.Err)
	}
	for _, name := range order {
		if said[name] == "" {
			said[name] = "sent"
		}
		fmt.Printf("%s: %s\n", name, said[name])
	}
	st, err := c.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("sent=%d refused=%d\n", st.Sent, st.Refused)
	return nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// childBatchRaw speaks version 2 by hand, as a client in another
// language (or a hostile one) would, and prints every answer as "type
// seq status text": args are the node's and the peer's addresses.
func childBatchRaw(sock string, args []string) error {
	node, peer := netip.MustParseAddr(args[0]), netip.MustParseAddr(args[1])
	c, err := net.Dial("unixpacket", sock)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, wire.MaxMessage)
	// answers reads until an answer with seq (an ack or result) comes.
	answers := func(seq uint32) error {
		for {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return err
			}
			m, err := wire.ParseMessage(buf[:n])
			if err != nil {
				return err
			}
			switch m.Type {
			case wire.MsgAck:
				fmt.Printf("ack %d\n", m.Seq)
			case wire.MsgResult:
				fmt.Printf("result %d %d %q\n", m.Seq, m.Body[0], m.Body[1:])
			default:
				continue
			}
			if m.Seq == seq {
				return nil
			}
		}
	}
	good := ip(node, peer, wire.ProtoUDP, udpSeg(5000, 7000, "orbisr-good"))
	forged := ip(node, peer, wire.ProtoUDP, udpSeg(5001, 7000, "orbisr-forged"))
	batch := func(entries ...[]byte) []byte {
		b := wire.AppendBatchHeader(nil)
		for _, e := range entries {
			b = wire.AppendBatchEntry(b, wire.FlagHdrIncl, e)
		}
		wire.SetBatchCount(b, uint16(len(entries)))
		return b
	}
	overrun := batch(good, good)
	overrun = overrun[:len(overrun)-1]
	for _, step := range []struct {
		m    wire.Message
		wait uint32 // the seq of the last answer
	}{
		{wire.Message{Type: wire.MsgBind, Seq: 1, Body: wire.BindBody(wire.ProtoUDP, 5000)}, 1},
		{wire.Message{Type: wire.MsgSendBatch, Seq: 10, Body: batch(good)}, 10},
		{wire.Message{Type: wire.MsgHello, Seq: 11, Body: wire.HelloBody(0)}, 11},
		{wire.Message{Type: wire.MsgHello, Seq: 12, Body: wire.HelloBody(9)}, 12},
		{wire.Message{Type: wire.MsgHello, Seq: 13, Body: wire.HelloBody(2)}, 13},
		{wire.Message{Type: wire.MsgSendBatch, Seq: 20, Body: overrun}, 21},
		{wire.Message{Type: wire.MsgSendBatch, Seq: 30, Body: batch(good, forged, good)}, 32},
		{wire.Message{Type: 99, Seq: 40}, 40},
	} {
		if _, err := c.Write(step.m.Marshal()); err != nil {
			return err
		}
		if err := answers(step.wait); err != nil {
			return err
		}
	}
	return nil
}

// testQueue checks the pipelined sends: refusals come back with the
// sequence numbers of the refused packets, and only the good ones reach
// the wire.
func testQueue(t *testing.T, c *chain, dir, sock string, uid uint32, onWire *sniffer) {
	out := startSliver(t, c.A, dir, uid, sock, "queue", c.a.String(), c.ra.String()).lines(t)
	wantLines(t, out, []string{
		"orbisq-good: sent",
		"orbisq-forged-port: refused=true raw socket service: packet refused: source port 5001 is not the bound port 5000",
		"orbisq-forged-addr: refused=true raw socket service: packet refused: source address 10.202.1.99 is not one of this node's that the socket may use",
		"orbisq-sendto: sent",
		"orbisq-sendto-forged-port: refused=true raw socket service: packet refused: source port 5002 is not the bound port 5000",
		"sent=2 refused=3",
	})
	for _, good := range []string{"orbisq-good", "orbisq-sendto"} {
		if !onWire.waitFor(2*time.Second, udpFrom(c.a, 5000, good)) {
			t.Errorf("%s: not seen on the wire from %s:5000", good, c.a)
		}
	}
	if n := onWire.count(payload("orbisq-forged")) + onWire.count(payload("orbisq-sendto-forged")); n > 0 {
		t.Errorf("%d refused packets reached the wire", n)
	}
}

// testBatchProtocol checks what a client speaking version 2 by hand is
// told, mistakes included, and that only the accepted packets of its
// batches reach the wire.
func testBatchProtocol(t *testing.T, c *chain, dir, sock string, uid uint32, onWire *sniffer) {
	out := startSliver(t, c.A, dir, uid, sock, "batchraw", c.a.String(), c.ra.String()).lines(t)
	if len(out) > 0 && strings.HasPrefix(out[0], "result 1 0 ") { // the bind's answer: the port
		out[0] = "result 1 0 (bound)"
	}
	wantLines(t, out, []string{
		"result 1 0 (bound)",
		`result 10 2 "a batch needs protocol version 2: send a hello first"`,
		`result 11 2 "protocol version 0 does not exist"`,
		`result 12 0 "\x00\x02"`,
		`result 13 2 "the connection already speaks version 2"`,
		`result 20 2 "batch of 2 packets from seq 20: malformed: entry 1 of 2: 1 bytes past the end of the batch; none was sent"`,
		"ack 21",
		`result 31 1 "packet refused: source port 5001 is not the bound port 5000"`,
		"ack 32",
		`result 40 2 "unknown message type 99"`,
	})
	good := udpFrom(c.a, 5000, "orbisr-good")
	for end := time.Now().Add(2 * time.Second); onWire.count(good) < 2 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := onWire.count(good); n != 2 {
		t.Errorf("%d good packets of the batches reached the wire, want 2 (none from the refused batches)", n)
	}
	if n := onWire.count(payload("orbisr-forged")); n != 0 {
		t.Errorf("%d refused packets reached the wire", n)
	}
}
