package rawsock

import (
	"encoding/binary"
	"net/netip"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// Addresses of the checker's tests: the node's and a peer's.
var (
	node4 = netip.MustParseAddr("192.0.2.1")
	node6 = netip.MustParseAddr("2001:db8::1")
	peer4 = netip.MustParseAddr("192.0.2.2")
	peer6 = netip.MustParseAddr("2001:db8::2")
	nodes = []netip.Addr{node4, node6}
)

func udpSeg(sport, dport uint16, payload string) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func tcpSeg(sport, dport uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	b[12] = 5 << 4
	b[13] = 0x02 // SYN
	return b
}

func icmpSeg(typ uint8, id, seq uint16) []byte {
	b := make([]byte, 8)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	return b
}

// ip builds a packet with a filled transport checksum.
func ip(src, dst netip.Addr, proto uint8, seg []byte) []byte {
	wire.SetChecksum(src, dst, proto, seg)
	return wire.BuildIP(src, dst, proto, 64, seg)
}

// icmpError builds an ICMP error of type typ from src to dst quoting the
// packet's IP header and 8 bytes more, as a router does.
func icmpError(src, dst netip.Addr, typ uint8, quoted []byte) []byte {
	n := 48
	if !src.Is6() && len(quoted) > 0 {
		n = int(quoted[0]&0xf)*4 + 8
	}
	seg := append(icmpSeg(typ, 0, 0), quoted[:min(n, len(quoted))]...)
	return ip(src, dst, wire.ProtoICMP, seg)
}

// mutate returns a copy of p with f applied.
func mutate(p []byte, f func([]byte) []byte) []byte {
	return f(append([]byte(nil), p...))
}
