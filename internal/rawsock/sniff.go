package rawsock

import (
	"encoding/binary"
	"net/netip"
)

// packetOutgoing is PACKET_OUTGOING: a packet this host sends;
// skfHatype is the ancillary load of the device's type (SKF_AD_OFF +
// SKF_AD_HATYPE), arphrdLoopback a loopback device's.
const (
	packetOutgoing = 4
	skfHatype      = 0xfffff000 + 28
	arphrdLoopback = 772
)

// SniffFilter returns the classic BPF program of a sniffer socket's
// capture (AF_PACKET SOCK_DGRAM, offsets from the IP header): the
// unfragmented TCP or UDP segments of b's protocol whose local side may
// be b's port: its destination port for a packet the host receives, its
// source port for one it sends, either for one it received on a loopback
// device (it sent it to itself). It is a superset of Sniffs, which the
// service applies again with the direction and the binding's addresses.
func SniffFilter(b Binding) ([]Insn, error) {
	var p prog
	p.ld(bpfLD|bpfW|bpfABS, skfPktType)
	p.jeq(packetOutgoing, "out", "")
	p.jeq(packetHost, "", "drop")
	p.ld(bpfLD|bpfW|bpfABS, skfHatype)
	p.jeq(arphrdLoopback, "loop", "in")
	for _, mode := range []string{"in", "out", "loop"} {
		p.label(mode)
		p.sniffIP(b, mode)
	}
	p.label("accept")
	p.op(bpfRET, 0x40000)
	p.label("drop")
	p.op(bpfRET, 0)
	return p.assemble()
}

// sniffIP matches IPv4 and IPv6 segments of b's protocol by their ports
// (sniffPorts), without fragments or extension headers.
func (p *prog) sniffIP(b Binding, mode string) {
	p.ld(bpfLD|bpfB|bpfABS, 0)
	p.op(bpfALU|bpfRSH, 4)
	p.jeq(4, "", mode+"6")
	p.ld(bpfLD|bpfH|bpfABS, 6)
	p.jset(0x3fff, "drop", "")
	p.ld(bpfLD|bpfB|bpfABS, 9)
	p.jeq(uint32(b.Proto), "", "drop")
	p.ld(bpfLDX|bpfB|bpfMSH, 0)
	p.sniffPorts(b, mode, 0)
	p.label(mode + "6")
	p.jeq(6, "", "drop")
	p.ld(bpfLD|bpfB|bpfABS, 6)
	p.jeq(uint32(b.Proto), "", "drop")
	p.ldx0()
	p.sniffPorts(b, mode, 40)
}

// sniffPorts accepts a transport header at X+off whose destination port
// ("in"), source port ("out") or either ("loop") is b's.
func (p *prog) sniffPorts(b Binding, mode string, off uint32) {
	if mode != "in" {
		p.ld(bpfLD|bpfH|bpfIND, off)
		if mode == "out" {
			p.jeq(uint32(b.Port), "accept", "drop")
			return
		}
		p.jeq(uint32(b.Port), "accept", "")
	}
	p.ld(bpfLD|bpfH|bpfIND, off+2)
	p.jeq(uint32(b.Port), "accept", "drop")
}

// direction is which way a captured packet went.
type direction uint8

const (
	received direction = iota // the node received it on a device
	sent                      // the node sent it on a device
	looped                    // the node received it on a loopback device: it sent it to itself
	loopSent                  // the node sent it on a loopback device: seen again as looped
)

// Sniffs reports whether a sniffer socket bound to b (a TCP or UDP port)
// on the local addresses local gets a copy of pkt, a packet the node sent
// or received (IP header first) in direction dir: a segment of b's
// protocol whose local side is b's port on one of local, that is its
// destination for a packet received, its source for a packet sent, and
// either for a packet the node sent to itself. A packet whose remote side
// merely has the same port number is not matched: it is another socket's.
// IPv4 fragments and IPv6 packets with extension headers are not matched.
func Sniffs(pkt []byte, b Binding, local []netip.Addr, dir direction) bool {
	p, ok := receivedIP(pkt)
	if !ok || p.proto != b.Proto || len(p.l4) < 4 {
		return false
	}
	from := binary.BigEndian.Uint16(p.l4) == b.Port && isNodeAddr(p.src, local)
	to := binary.BigEndian.Uint16(p.l4[2:]) == b.Port && isNodeAddr(p.dst, local)
	switch dir {
	case received:
		return to
	case sent:
		return from
	case looped:
		return to || from
	}
	return false
}
