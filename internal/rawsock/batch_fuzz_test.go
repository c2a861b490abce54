package rawsock

import (
	"log/slog"
	"net/netip"
	"testing"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// FuzzBatch checks a batch's promises on any message a client may send
// once it has said hello: every packet the service would send passes the
// checker (and the fuzz test's own reading of it), every packet of the
// batch is either sent or answered by a result with its own seq (or the
// whole batch by one result), and the acknowledgment covers the batch.
// Plain `go test` runs its seeds only.
func FuzzBatch(f *testing.F) {
	for _, b := range []Binding{udp5000, tcp5000, icmpID77} {
		body := wire.AppendBatchHeader(nil)
		n := 0
		for _, tc := range checkCases {
			if tc.b == b {
				body = wire.AppendBatchEntry(body, wire.FlagHdrIncl, tc.pkt)
				n++
			}
		}
		body = wire.AppendBatchEntry(body, 0, wire.SendTo{Dst: peer4}.Marshal(udpSeg(5000, 53, "to")))
		wire.SetBatchCount(body, uint16(n+1))
		f.Add(body, uint32(7), b.Proto, b.Port, false)
		f.Add(body, ^uint32(0), b.Proto, b.Port, true)
		f.Add(body[:len(body)-3], uint32(1), b.Proto, b.Port, false)
	}
	f.Fuzz(func(t *testing.T, body []byte, seq uint32, proto uint8, port uint16, sniff bool) {
		s := &server{cfg: Config{NodeAddrs: func() []netip.Addr { return nodes }}}
		b := Binding{Proto: proto, Port: port}
		ss := &session{s: s, slice: "orbistest", version: 2, b: b, bound: true, sniff: sniff, log: slog.New(slog.DiscardHandler)}
		count := wire.ParseBatchCount(body)
		tx, results, last := ss.planBatch(wire.Message{Type: wire.MsgSendBatch, Seq: seq, Body: body})
		if want := seq + uint32(max(count, 1)) - 1; last != want {
			t.Fatalf("ack of seq %d, want %d", last, want)
		}
		seen := map[uint32]bool{}
		for _, p := range tx {
			if err := Check(p.pkt, b, nodes); err != nil {
				t.Fatalf("packet %d would be sent, yet the checker says %v", p.seq, err)
			}
			if why := violation(p.pkt, b); why != "" {
				t.Fatalf("packet %d would be sent, yet it %s: %x", p.seq, why, p.pkt)
			}
			seen[p.seq] = true
		}
		for _, r := range results {
			if r.Type != wire.MsgResult || len(r.Body) < 2 || r.Body[0] == wire.StatusOK {
				t.Fatalf("answer %+v is no error result", r)
			}
			if seen[r.Seq] || r.Seq-seq >= uint32(max(count, 1)) {
				t.Fatalf("result for seq %d: a packet already sent or answered, or out of the batch", r.Seq)
			}
			seen[r.Seq] = true
		}
		if sniff && len(tx) > 0 {
			t.Fatalf("a sniffer would send %d packets", len(tx))
		}
		whole := len(results) == 1 && len(tx) == 0 && results[0].Seq == seq
		if !whole && len(seen) != count {
			t.Fatalf("%d of %d packets sent or answered", len(seen), count)
		}
	})
}
