package rawsock

import (
	"encoding/binary"
	"net/netip"
)

// packetOutgoing is PACKET_OUTGOING: a packet this host sends.
const packetOutgoing = 4

// SniffFilter returns the classic BPF program of a sniffer socket's
// capture (AF_PACKET SOCK_DGRAM, offsets from the IP header): the
// unfragmented TCP or UDP segments of b's protocol from or to b's port,
// in both directions (packets the host receives and packets it sends). It
// is a superset of Sniffs, which the service applies again.
func SniffFilter(b Binding) ([]Insn, error) {
	var p prog
	p.ld(bpfLD|bpfW|bpfABS, skfPktType)
	p.jeq(packetHost, "ip", "")
	p.jeq(packetOutgoing, "ip", "drop")
	p.label("ip")
	p.ld(bpfLD|bpfB|bpfABS, 0)
	p.op(bpfALU|bpfRSH, 4)
	p.jeq(4, "v4", "")
	p.jeq(6, "v6", "drop")
	p.label("v4")
	p.ld(bpfLD|bpfH|bpfABS, 6)
	p.jset(0x3fff, "drop", "")
	p.ld(bpfLD|bpfB|bpfABS, 9)
	p.jeq(uint32(b.Proto), "", "drop")
	p.ld(bpfLDX|bpfB|bpfMSH, 0)
	p.ld(bpfLD|bpfH|bpfIND, 0) // source port
	p.jeq(uint32(b.Port), "accept", "")
	p.ld(bpfLD|bpfH|bpfIND, 2) // destination port
	p.jeq(uint32(b.Port), "accept", "drop")
	p.label("v6")
	p.ld(bpfLD|bpfB|bpfABS, 6)
	p.jeq(uint32(b.Proto), "", "drop")
	p.ld(bpfLD|bpfH|bpfABS, 40)
	p.jeq(uint32(b.Port), "accept", "")
	p.ld(bpfLD|bpfH|bpfABS, 42)
	p.jeq(uint32(b.Port), "accept", "drop")
	p.label("accept")
	p.op(bpfRET, 0x40000)
	p.label("drop")
	p.op(bpfRET, 0)
	return p.assemble()
}

// Sniffs reports whether a sniffer socket bound to b (a TCP or UDP port)
// gets a copy of pkt, a packet the node sent or received (IP header
// first): a segment of b's protocol from or to b's port, to or from one
// of nodeAddrs. IPv4 fragments and IPv6 packets with extension headers
// are not matched.
func Sniffs(pkt []byte, b Binding, nodeAddrs []netip.Addr) bool {
	p, ok := receivedIP(pkt)
	if !ok || p.proto != b.Proto || len(p.l4) < 4 {
		return false
	}
	if binary.BigEndian.Uint16(p.l4) != b.Port && binary.BigEndian.Uint16(p.l4[2:]) != b.Port {
		return false
	}
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	if p.v6 {
		src = netip.AddrFrom16([16]byte(pkt[8:24]))
	}
	return isNodeAddr(src, nodeAddrs) || isNodeAddr(p.dst, nodeAddrs)
}
