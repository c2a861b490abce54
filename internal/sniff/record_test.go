package sniff

import (
	"context"
	"encoding/binary"
	"log/slog"
	"testing"
	"time"
)

// record encodes one NFLOG packet record as the kernel sends it: a
// netlink header, an nfgenmsg, then the mark (if not 0), payload and
// sequence attributes.
func record(mark, seq uint32, payload []byte) []byte {
	var attrs []byte
	add := func(typ uint16, v []byte) {
		attrs = binary.NativeEndian.AppendUint16(attrs, uint16(4+len(v)))
		attrs = binary.NativeEndian.AppendUint16(attrs, typ)
		attrs = append(attrs, v...)
		for len(attrs)%4 != 0 {
			attrs = append(attrs, 0)
		}
	}
	if mark != 0 {
		add(attrMark, binary.BigEndian.AppendUint32(nil, mark))
	}
	add(attrPayload, payload)
	add(attrSeq, binary.BigEndian.AppendUint32(nil, seq))
	msg := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+4+len(attrs)))
	msg = binary.NativeEndian.AppendUint16(msg, packetMsgType)
	msg = binary.NativeEndian.AppendUint16(msg, 2) // NLM_F_MULTI
	msg = append(msg, make([]byte, 8)...)          // sequence and port id
	msg = append(msg, 2, 0, 0, 5)                  // nfgenmsg: AF_INET, version, group 5
	return append(msg, attrs...)
}

// done is the NLMSG_DONE that ends a batch of several records.
func done() []byte {
	msg := binary.NativeEndian.AppendUint32(nil, nlmsgHdrLen+4)
	msg = binary.NativeEndian.AppendUint16(msg, 3)
	msg = binary.NativeEndian.AppendUint16(msg, 2)
	return append(msg, make([]byte, 12)...)
}

// udpHeader is an IPv4 UDP packet's first 28 bytes, from port sport.
func udpHeader(sport uint16) []byte {
	b := []byte{0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0x23, 0x28, 0, 20, 0, 0}
	binary.BigEndian.PutUint16(b[20:], sport)
	return b
}

// TestReaderSequence: the reader publishes every record of a batch,
// counts the records missing from the group's numbering (from 0, the
// first number of a bound group), does not count a restarted numbering,
// and a subscriber's drop count includes the kernel's drops since it
// subscribed.
func TestReaderSequence(t *testing.T) {
	s := NewStream()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, dropped := s.Subscribe(ctx, 100)
	r := newReader(s, slog.New(slog.DiscardHandler), func(mark uint32) string {
		return map[uint32]string{0x4f520001: "orbistest-a"}[mark]
	})
	now := time.Unix(1_800_000_000, 0)
	var b []byte
	for _, seq := range []uint32{2, 3, 4} { // 0 and 1 lost before the first read
		b = append(b, record(0x4f520001, seq, udpHeader(uint16(1000+seq)))...)
	}
	r.batch(append(b, done()...), now)
	r.batch(record(7, 9, udpHeader(1009)), now) // a lone record (a mark of no slice): 5 to 8 lost
	r.batch(record(0x4f520001, 0, udpHeader(1100)), now)
	want := []struct {
		slice string
		port  uint16
	}{{"orbistest-a", 1002}, {"orbistest-a", 1003}, {"orbistest-a", 1004}, {"", 1009}, {"orbistest-a", 1100}}
	for i, w := range want {
		select {
		case p := <-ch:
			if p.Slice != w.slice || p.SrcPort != w.port || !p.Time.Equal(now) || p.Proto != 17 {
				t.Errorf("packet %d: %+v, want slice %q from port %d", i, p, w.slice, w.port)
			}
		default:
			t.Fatalf("packet %d (port %d) not published", i, w.port)
		}
	}
	if got := s.KernelDropped(); got != 6 {
		t.Errorf("KernelDropped = %d, want 6 (0, 1, 5 to 8)", got)
	}
	if got := dropped(); got != 6 {
		t.Errorf("the subscriber's dropped = %d, want the kernel's 6", got)
	}
	_, later := s.Subscribe(ctx, 1)
	if got := later(); got != 0 {
		t.Errorf("a later subscriber's dropped = %d, want 0", got)
	}
}
