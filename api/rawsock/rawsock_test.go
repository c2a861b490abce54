package rawsock

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

var (
	src4, dst4 = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	src6, dst6 = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8:1::7")
)

// TestChecksum checks SetChecksum the way a receiver does: the sum over
// the pseudo-header and the segment, checksum included, is all ones.
func TestChecksum(t *testing.T) {
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		proto    uint8
		seg      []byte
	}{
		{"udp4", src4, dst4, ProtoUDP, []byte{0x13, 0x88, 0, 53, 0, 11, 0, 0, 'a', 'b', 'c'}},
		{"udp6", src6, dst6, ProtoUDP, []byte{0x13, 0x88, 0, 53, 0, 10, 0, 0, 'a', 'b'}},
		{"tcp4", src4, dst4, ProtoTCP, make([]byte, 20)},
		{"icmp4", src4, dst4, ProtoICMP, EchoRequest(dst4, 7, 1, []byte("x"))},
		{"icmp6", src6, dst6, ProtoICMP, EchoRequest(dst6, 7, 1, []byte("x"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			SetChecksum(tc.src, tc.dst, tc.proto, tc.seg)
			p := BuildIP(tc.src, tc.dst, tc.proto, 64, tc.seg)
			s := sum(0, tc.seg)
			if tc.name != "icmp4" {
				s = sum(s, tc.src.AsSlice())
				s = sum(s, tc.dst.AsSlice())
				proto := p[9] // IPv4's protocol field, or IPv6's next header
				if tc.src.Is6() {
					proto = p[6]
				}
				s += uint32(proto) + uint32(len(tc.seg))
			}
			if fold(s) != 0xffff {
				t.Fatalf("segment checksum does not verify: %#x", fold(s))
			}
			if tc.src.Is4() && Checksum(p[:20]) != 0 {
				t.Fatal("IPv4 header checksum does not verify")
			}
		})
	}
}

func TestMessages(t *testing.T) {
	m := Message{Type: MsgSend, Flags: FlagHdrIncl, Seq: 0x01020304, Body: []byte("pkt")}
	got, err := ParseMessage(m.Marshal())
	if err != nil || got.Type != m.Type || got.Flags != m.Flags || got.Seq != m.Seq || !bytes.Equal(got.Body, m.Body) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if !bytes.Equal(m.Marshal()[:8], []byte{2, 1, 0, 0, 1, 2, 3, 4}) {
		t.Fatalf("header % x, not as docs/rawsock.md says", m.Marshal()[:8])
	}
	to, seg, err := ParseSendTo(SendTo{Dst: dst6, TTL: 3}.Marshal([]byte("seg")))
	if err != nil || to.Dst != dst6 || to.TTL != 3 || string(seg) != "seg" {
		t.Fatalf("SendTo round trip: %+v %q %v", to, seg, err)
	}
	if _, _, err := ParseSendTo([]byte{0, 5, 0, 0, 1, 2, 3, 4, 5}); err == nil {
		t.Fatal("address length 5 accepted")
	}
	st := Stats{Received: 1, Dropped: 2, Sent: 3, Refused: 4}
	if got, err := ParseStats(st.Marshal()); err != nil || got != st {
		t.Fatalf("stats round trip: %+v %v", got, err)
	}
	if !errors.Is(&Error{Status: StatusRefused}, ErrRefused) || errors.Is(&Error{Status: StatusInternal}, ErrRefused) {
		t.Fatal("ErrRefused matches the wrong statuses")
	}
}

// TestParseAnswer reads what ping and traceroute get back.
func TestParseAnswer(t *testing.T) {
	router := netip.MustParseAddr("192.0.2.254")
	probe := BuildIP(src4, dst4, ProtoICMP, 1, EchoRequest(dst4, 7, 3, nil))
	exceeded := BuildIP(router, src4, ProtoICMP, 64, append([]byte{11, 0, 0, 0, 0, 0, 0, 0}, probe[:28]...))
	reply := BuildIP(dst4, src4, ProtoICMP, 60, []byte{0, 0, 0, 0, 0, 7, 0, 3})
	for _, tc := range []struct {
		name string
		p    []byte
		seq  uint16
		from netip.Addr
		done bool
	}{
		{"time exceeded", exceeded, 3, router, false},
		{"echo reply", reply, 3, dst4, true},
		{"other seq", reply, 4, netip.Addr{}, false},
	} {
		r, ok := parseAnswer(tc.p, 7, tc.seq)
		if ok != tc.from.IsValid() || ok && (r.From != tc.from || r.Done != tc.done) {
			t.Errorf("%s: %+v %v", tc.name, r, ok)
		}
	}
}
