package rawsock

import (
	"encoding/binary"
	"net/netip"
)

// Checksum is the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 {
	return ^fold(sum(0, b))
}

func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// IP protocol number of ICMPv6.
const protoICMPv6 = 58

// SetChecksum fills the checksum field of a TCP, UDP, ICMP or ICMPv6
// segment sent from src to dst (the pseudo-header counts for all but
// ICMPv4). proto is the IP protocol number; for ICMP over IPv6 pass
// ProtoICMP or 58. A segment too short for its header is left as it is.
func SetChecksum(src, dst netip.Addr, proto uint8, seg []byte) {
	off := map[uint8]int{ProtoTCP: 16, ProtoUDP: 6, ProtoICMP: 2, protoICMPv6: 2}[proto]
	if off == 0 || len(seg) < off+2 {
		return
	}
	if dst.Unmap().Is6() && proto == ProtoICMP {
		proto = protoICMPv6
	}
	seg[off], seg[off+1] = 0, 0
	s := sum(0, seg)
	if proto != ProtoICMP {
		s = sum(s, src.Unmap().AsSlice())
		s = sum(s, dst.Unmap().AsSlice())
		s += uint32(proto) + uint32(len(seg))
	}
	c := ^fold(s)
	if c == 0 && proto == ProtoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[off:], c)
}

// BuildIP returns an IPv4 or IPv6 packet (by the family of dst) from src
// to dst carrying seg, with the given TTL or hop limit, no options and no
// fragmentation. The IPv4 header checksum is filled; the segment is copied
// as it is (see SetChecksum). For ICMP to an IPv6 address pass ProtoICMP
// or 58: the header says 58.
func BuildIP(src, dst netip.Addr, proto, ttl uint8, seg []byte) []byte {
	src, dst = src.Unmap(), dst.Unmap()
	if dst.Is6() {
		if proto == ProtoICMP {
			proto = protoICMPv6
		}
		h := make([]byte, 40, 40+len(seg))
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(len(seg)))
		h[6], h[7] = proto, ttl
		s16, d16 := src.As16(), dst.As16()
		copy(h[8:], s16[:])
		copy(h[24:], d16[:])
		return append(h, seg...)
	}
	h := make([]byte, 20, 20+len(seg))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(seg)))
	h[8], h[9] = ttl, proto
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h))
	return append(h, seg...)
}

// ICMP message types the tools use.
const (
	icmpEchoReply     = 0
	icmpUnreachable   = 3
	icmpEcho          = 8
	icmpTimeExceeded  = 11
	icmp6Unreachable  = 1
	icmp6TimeExceeded = 3
	icmp6Echo         = 128
	icmp6EchoReply    = 129
)

// EchoRequest returns an ICMP (or, for an IPv6 dst, ICMPv6) echo request
// segment with the identifier, sequence number and payload. Its checksum
// is filled for ICMPv4 only: over IPv6 it depends on the source address,
// which a SendTo lets the service fill.
func EchoRequest(dst netip.Addr, id, seq uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	b[0] = icmpEcho
	if dst.Unmap().Is6() {
		b[0] = icmp6Echo
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, payload...)
	if b[0] == icmpEcho {
		binary.BigEndian.PutUint16(b[2:], Checksum(b))
	}
	return b
}
