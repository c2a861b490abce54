package rawsock

import (
	"encoding/binary"
	"net/netip"
	"slices"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// Wants reports whether a received packet (IP header first) belongs to a
// socket bound to b: for a TCP or UDP binding, a segment of its protocol
// to its port, or an ICMP error quoting a packet of its protocol from its
// port; for an ICMP binding, an echo reply with its identifier, or an
// ICMP error quoting an echo request with it. IPv4 fragments and IPv6
// packets with extension headers are not matched. The capture's BPF
// filter (Filter) matches a superset of these packets: the
// service checks every captured packet here again, and that it is
// addressed to the node, before relaying it.
func Wants(pkt []byte, b Binding) bool {
	p, ok := receivedIP(pkt)
	if !ok {
		return false
	}
	if p.proto == b.Proto && b.Proto != wire.ProtoICMP {
		return len(p.l4) >= 4 && binary.BigEndian.Uint16(p.l4[2:]) == b.Port
	}
	if p.proto != p.icmpProto() || len(p.l4) < 8 {
		return false
	}
	if b.Proto == wire.ProtoICMP && p.l4[0] == echoReply(p.v6) {
		return binary.BigEndian.Uint16(p.l4[4:]) == b.Port
	}
	types := errorTypes4
	if p.v6 {
		types = errorTypes6
	}
	if !slices.Contains(types, p.l4[0]) {
		return false
	}
	return quotesBinding(p.l4[8:], p.v6, b)
}

// quotesBinding reports whether the packet an ICMP error quotes was sent
// by a socket bound to b.
func quotesBinding(inner []byte, v6 bool, b Binding) bool {
	q, ok := parseQuoted(inner, v6)
	if !ok {
		return false
	}
	if b.Proto != wire.ProtoICMP {
		return q.proto == b.Proto && binary.BigEndian.Uint16(q.l4) == b.Port
	}
	echo := uint8(8)
	if v6 {
		echo = 128
	}
	return q.proto == q.icmpProto() && q.l4[0] == echo && binary.BigEndian.Uint16(q.l4[4:]) == b.Port
}

func echoReply(v6 bool) uint8 {
	if v6 {
		return 129
	}
	return 0
}

// receivedIP reads a received packet's header: lenient about lengths
// (the capture may truncate nothing, but a sliver gets what came), strict
// about fragments.
func receivedIP(pkt []byte) (ipPacket, bool) {
	if len(pkt) >= 20 && pkt[0]>>4 == 4 {
		ihl := int(pkt[0]&0xf) * 4
		if ihl < 20 || len(pkt) < ihl || binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return ipPacket{}, false
		}
		return ipPacket{src: netip.AddrFrom4([4]byte(pkt[12:16])), dst: netip.AddrFrom4([4]byte(pkt[16:20])),
			proto: pkt[9], l4: pkt[ihl:]}, true
	}
	if len(pkt) >= 40 && pkt[0]>>4 == 6 {
		return ipPacket{v6: true, src: netip.AddrFrom16([16]byte(pkt[8:24])), dst: netip.AddrFrom16([16]byte(pkt[24:40])),
			proto: pkt[6], l4: pkt[40:]}, true
	}
	return ipPacket{}, false
}
