package rawsock

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Tools runs ping and traceroute over a safe raw socket bound to a free
// ICMP identifier, so they need no privilege. The zero value uses
// DefaultPath, one probe a second and a two-second wait for each answer.
type Tools struct {
	Path     string        // the service's socket; "" means DefaultPath
	Interval time.Duration // between echo requests; 0 means 1s
	Timeout  time.Duration // wait for one answer; 0 means 2s
	// Each, when set, is called with every reply or hop as it comes.
	Each func(Reply)
}

// Reply is one answer: an echo reply to ping, or a hop of traceroute
// (From invalid when no answer came in time).
type Reply struct {
	Seq  int           // the echo sequence number; for traceroute, the TTL
	From netip.Addr    // who answered
	TTL  int           // the answer's TTL or hop limit
	RTT  time.Duration // round trip
	Done bool          // traceroute: From is the destination (or said unreachable)
}

// Ping sends count echo requests to addr and returns the replies, with
// the zero Tools.
func Ping(ctx context.Context, addr netip.Addr, count int) ([]Reply, error) {
	return Tools{}.Ping(ctx, addr, count)
}

// Traceroute finds the hops to addr, with the zero Tools.
func Traceroute(ctx context.Context, addr netip.Addr, maxHops int) ([]Reply, error) {
	return Tools{}.Traceroute(ctx, addr, maxHops)
}

// Ping sends count echo requests to addr, one per Interval, and returns
// the replies that came back within Timeout, in order.
func (t Tools) Ping(ctx context.Context, addr netip.Addr, count int) ([]Reply, error) {
	c, err := Dial(ctx, t.Path, ProtoICMP, 0)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var replies []Reply
	for seq := 1; seq <= count; seq++ {
		start := time.Now()
		r, err := t.probe(ctx, c, addr, uint16(seq), 64)
		if err != nil {
			return replies, err
		}
		if r.From.IsValid() {
			t.report(r)
			replies = append(replies, r)
		}
		if seq < count {
			if err := sleep(ctx, t.interval()-time.Since(start)); err != nil {
				return replies, err
			}
		}
	}
	return replies, nil
}

// Traceroute sends echo requests to addr with TTLs 1, 2, ... maxHops and
// returns one Reply per TTL: the router whose time-exceeded message came
// back, or an invalid From for no answer; it stops at the destination.
func (t Tools) Traceroute(ctx context.Context, addr netip.Addr, maxHops int) ([]Reply, error) {
	c, err := Dial(ctx, t.Path, ProtoICMP, 0)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var hops []Reply
	for ttl := 1; ttl <= maxHops; ttl++ {
		r, err := t.probe(ctx, c, addr, uint16(ttl), uint8(ttl))
		if err != nil {
			return hops, err
		}
		r.Seq = ttl
		t.report(r)
		hops = append(hops, r)
		if r.Done {
			break
		}
	}
	return hops, nil
}

// probe sends one echo request and waits for its answer: an echo reply,
// or an ICMP error quoting it. A timeout is a Reply with no From.
func (t Tools) probe(ctx context.Context, c *Conn, addr netip.Addr, seq uint16, ttl uint8) (Reply, error) {
	start := time.Now()
	payload := binary.BigEndian.AppendUint64(nil, uint64(start.UnixNano()))
	if err := c.SendTo(ctx, addr, ttl, EchoRequest(addr, c.Port(), seq, payload)); err != nil {
		return Reply{}, fmt.Errorf("send echo request: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, t.timeout())
	defer cancel()
	for {
		p, err := c.Receive(wctx)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return Reply{Seq: int(seq)}, nil
		}
		if err != nil {
			return Reply{}, err
		}
		if r, ok := parseAnswer(p, c.Port(), seq); ok {
			r.RTT = time.Since(start)
			return r, nil
		}
	}
}

// parseAnswer reads an echo reply or an ICMP error about our echo request
// with this identifier and sequence number.
func parseAnswer(p []byte, id, seq uint16) (Reply, bool) {
	from, ttl, icmp, ok := splitIP(p)
	if !ok || len(icmp) < 8 {
		return Reply{}, false
	}
	r := Reply{Seq: int(seq), From: from, TTL: ttl}
	echo, reply, unreach, exceeded := uint8(icmpEcho), uint8(icmpEchoReply), uint8(icmpUnreachable), uint8(icmpTimeExceeded)
	if from.Is6() {
		echo, reply, unreach, exceeded = icmp6Echo, icmp6EchoReply, icmp6Unreachable, icmp6TimeExceeded
	}
	switch icmp[0] {
	case reply:
		r.Done = true
		return r, echoIs(icmp, id, seq)
	case unreach:
		r.Done = true
	case exceeded:
	default:
		return Reply{}, false
	}
	_, _, inner, ok := splitIP(icmp[8:])
	return r, ok && len(inner) >= 8 && inner[0] == echo && echoIs(inner, id, seq)
}

func echoIs(icmp []byte, id, seq uint16) bool {
	return binary.BigEndian.Uint16(icmp[4:]) == id && binary.BigEndian.Uint16(icmp[6:]) == seq
}

// splitIP returns an IPv4 or IPv6 packet's source, TTL and payload; a
// quoted packet may be truncated after its header.
func splitIP(p []byte) (netip.Addr, int, []byte, bool) {
	if len(p) >= 20 && p[0]>>4 == 4 {
		ihl := int(p[0]&0xf) * 4
		if ihl < 20 || len(p) < ihl {
			return netip.Addr{}, 0, nil, false
		}
		return netip.AddrFrom4([4]byte(p[12:16])), int(p[8]), p[ihl:], true
	}
	if len(p) >= 40 && p[0]>>4 == 6 {
		return netip.AddrFrom16([16]byte(p[8:24])), int(p[7]), p[40:], true
	}
	return netip.Addr{}, 0, nil, false
}

func (t Tools) report(r Reply) {
	if t.Each != nil {
		t.Each(r)
	}
}

func (t Tools) interval() time.Duration {
	if t.Interval > 0 {
		return t.Interval
	}
	return time.Second
}

func (t Tools) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return 2 * time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
