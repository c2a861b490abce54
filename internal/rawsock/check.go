package rawsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// Binding is what one safe raw socket is bound to: a TCP or UDP port, or
// an ICMP (and ICMPv6) echo identifier.
type Binding struct {
	Proto uint8  // wire.ProtoTCP, wire.ProtoUDP or wire.ProtoICMP
	Port  uint16 // the port, or the ICMP identifier
}

// name is the binding's protocol's name: "tcp", "udp", "icmp", or "".
func (b Binding) name() string {
	switch b.Proto {
	case wire.ProtoTCP:
		return "tcp"
	case wire.ProtoUDP:
		return "udp"
	case wire.ProtoICMP:
		return "icmp"
	}
	return ""
}

func (b Binding) String() string {
	name := b.name()
	if name == "" {
		name = fmt.Sprintf("proto %d", b.Proto)
	}
	return fmt.Sprintf("%s/%d", name, b.Port)
}

// IP protocol number of ICMPv6.
const protoICMPv6 = 58

// ipPacket is an IP packet's header fields that the checks use.
type ipPacket struct {
	v6       bool
	src, dst netip.Addr
	proto    uint8  // the transport protocol, after IPv6 extension headers
	l4       []byte // the transport segment
}

// icmpProto is the ICMP protocol number of the packet's IP version.
func (p ipPacket) icmpProto() uint8 {
	if p.v6 {
		return protoICMPv6
	}
	return wire.ProtoICMP
}

// Check reports whether a sliver bound to b may send pkt, a whole IPv4 or
// IPv6 packet (the service builds the IP header itself for a sliver that
// sends without one, then checks the result here, so every packet that
// reaches the wire passes through Check). local are the addresses the
// socket may send from: for a TCP or UDP binding, those its slice holds
// the port on; for ICMP, the node's. It accepts only a well-formed,
// unfragmented packet from one of local that is either
//   - a TCP or UDP segment of b's protocol from b's port,
//   - for an ICMP binding, an echo, timestamp or information message
//     (request or reply) with b's identifier, or
//   - for a TCP or UDP binding, an ICMP error (unreachable, time exceeded,
//     parameter problem) about a packet of b's protocol sent to one of
//     local at b's port.
//
// The error says what was wrong.
func Check(pkt []byte, b Binding, local []netip.Addr) error {
	p, err := parseIP(pkt)
	if err != nil {
		return err
	}
	if !isNodeAddr(p.src, local) {
		return fmt.Errorf("source address %s is not one of this node's that the socket may use", p.src)
	}
	if p.dst.IsUnspecified() {
		return errors.New("destination address is unspecified")
	}
	switch {
	case (b.Proto == wire.ProtoTCP || b.Proto == wire.ProtoUDP) && p.proto == b.Proto:
		return checkPort(p, b)
	case b.Proto == wire.ProtoICMP && p.proto == p.icmpProto():
		return checkEcho(p, b)
	case (b.Proto == wire.ProtoTCP || b.Proto == wire.ProtoUDP) && p.proto == p.icmpProto():
		return checkICMPError(p, b, local)
	}
	return fmt.Errorf("protocol %d does not match the socket's binding %s", p.proto, b)
}

func isNodeAddr(a netip.Addr, nodeAddrs []netip.Addr) bool {
	return slices.ContainsFunc(nodeAddrs, func(n netip.Addr) bool { return n.Unmap() == a })
}

// parseIP checks an IP header and returns its fields.
func parseIP(pkt []byte) (ipPacket, error) {
	if len(pkt) == 0 {
		return ipPacket{}, errors.New("empty packet")
	}
	switch pkt[0] >> 4 {
	case 4:
		return parseIPv4(pkt)
	case 6:
		return parseIPv6(pkt)
	}
	return ipPacket{}, fmt.Errorf("IP version %d", pkt[0]>>4)
}

func parseIPv4(pkt []byte) (ipPacket, error) {
	if len(pkt) < 20 {
		return ipPacket{}, fmt.Errorf("IPv4 packet of %d bytes is shorter than its header", len(pkt))
	}
	ihl := int(pkt[0]&0xf) * 4
	if ihl < 20 || ihl > len(pkt) {
		return ipPacket{}, fmt.Errorf("IPv4 header length %d is out of bounds", ihl)
	}
	if tot := int(binary.BigEndian.Uint16(pkt[2:])); tot != len(pkt) {
		return ipPacket{}, fmt.Errorf("IPv4 total length %d, but the packet has %d bytes", tot, len(pkt))
	}
	if frag := binary.BigEndian.Uint16(pkt[6:]); frag&0xbfff != 0 {
		return ipPacket{}, errors.New("IPv4 fragments (or the reserved flag) are refused")
	}
	if err := checkIPv4Options(pkt[20:ihl]); err != nil {
		return ipPacket{}, err
	}
	return ipPacket{
		src:   netip.AddrFrom4([4]byte(pkt[12:16])),
		dst:   netip.AddrFrom4([4]byte(pkt[16:20])),
		proto: pkt[9],
		l4:    pkt[ihl:],
	}, nil
}

// checkIPv4Options refuses malformed options and the source-routing ones
// (LSRR, SSRR), which would steer the packet's path and its replies.
func checkIPv4Options(opts []byte) error {
	for len(opts) > 0 {
		switch opts[0] {
		case 0: // end of options
			return nil
		case 1: // no operation
			opts = opts[1:]
			continue
		case 0x83, 0x89:
			return errors.New("IPv4 source-route options are refused")
		}
		if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
			return errors.New("malformed IPv4 option")
		}
		opts = opts[opts[1]:]
	}
	return nil
}

func parseIPv6(pkt []byte) (ipPacket, error) {
	if len(pkt) < 40 {
		return ipPacket{}, fmt.Errorf("IPv6 packet of %d bytes is shorter than its header", len(pkt))
	}
	if pl := int(binary.BigEndian.Uint16(pkt[4:])); pl != len(pkt)-40 {
		return ipPacket{}, fmt.Errorf("IPv6 payload length %d, but the payload has %d bytes", pl, len(pkt)-40)
	}
	p := ipPacket{
		v6:  true,
		src: netip.AddrFrom16([16]byte(pkt[8:24])),
		dst: netip.AddrFrom16([16]byte(pkt[24:40])),
	}
	next, rest := pkt[6], pkt[40:]
	for next == 0 || next == 60 { // hop-by-hop and destination options
		if len(rest) < 8 || (int(rest[1])+1)*8 > len(rest) {
			return ipPacket{}, errors.New("malformed IPv6 extension header")
		}
		next, rest = rest[0], rest[(int(rest[1])+1)*8:]
	}
	if next == 43 || next == 44 || next == 50 || next == 51 || next == 59 || next >= 135 {
		return ipPacket{}, fmt.Errorf("IPv6 extension header %d is refused (routing, fragment, IPsec and others)", next)
	}
	p.proto, p.l4 = next, rest
	return p, nil
}

// checkPort checks a TCP or UDP header's bounds and source port.
func checkPort(p ipPacket, b Binding) error {
	min := 8
	if b.Proto == wire.ProtoTCP {
		min = 20
	}
	if len(p.l4) < min {
		return fmt.Errorf("%d-byte segment is shorter than its header", len(p.l4))
	}
	if b.Proto == wire.ProtoTCP {
		if off := int(p.l4[12]>>4) * 4; off < 20 || off > len(p.l4) {
			return fmt.Errorf("TCP data offset %d is out of bounds", off)
		}
	} else if ul := int(binary.BigEndian.Uint16(p.l4[4:])); ul != len(p.l4) {
		return fmt.Errorf("UDP length %d, but the segment has %d bytes", ul, len(p.l4))
	}
	if sp := binary.BigEndian.Uint16(p.l4); sp != b.Port {
		return fmt.Errorf("source port %d is not the bound port %d", sp, b.Port)
	}
	return nil
}

// ICMP types an ICMP binding may send: echo, timestamp and information
// requests and replies (ICMPv6: echo request and reply).
var (
	echoTypes4 = []uint8{0, 8, 13, 14, 15, 16}
	echoTypes6 = []uint8{128, 129}
)

// checkEcho checks an ICMP query message's type and identifier.
func checkEcho(p ipPacket, b Binding) error {
	if len(p.l4) < 8 {
		return errors.New("ICMP message shorter than 8 bytes")
	}
	types := echoTypes4
	if p.v6 {
		types = echoTypes6
	}
	if !slices.Contains(types, p.l4[0]) {
		return fmt.Errorf("ICMP type %d is not an echo-like query (an ICMP socket is bound to an identifier)", p.l4[0])
	}
	if id := binary.BigEndian.Uint16(p.l4[4:]); id != b.Port {
		return fmt.Errorf("ICMP identifier %d is not the bound identifier %d", id, b.Port)
	}
	return nil
}

// ICMP errors a TCP or UDP binding may send about its port.
var (
	errorTypes4 = []uint8{3, 11, 12} // unreachable, time exceeded, parameter problem
	errorTypes6 = []uint8{1, 2, 3, 4}
)

// checkICMPError checks that an ICMP error quotes a packet of b's protocol
// that was sent to this node at b's port.
func checkICMPError(p ipPacket, b Binding, local []netip.Addr) error {
	if len(p.l4) < 8 {
		return errors.New("ICMP message shorter than 8 bytes")
	}
	types := errorTypes4
	if p.v6 {
		types = errorTypes6
	}
	if !slices.Contains(types, p.l4[0]) {
		return fmt.Errorf("ICMP type %d is not an error a %s socket may send", p.l4[0], b)
	}
	q, ok := parseQuoted(p.l4[8:], p.v6)
	switch {
	case !ok:
		return errors.New("ICMP error quotes no well-formed IP header and 8 bytes")
	case q.proto != b.Proto:
		return fmt.Errorf("ICMP error quotes protocol %d, not the socket's %s", q.proto, b)
	case !isNodeAddr(q.dst, local):
		return fmt.Errorf("ICMP error quotes a packet to %s, not to this node", q.dst)
	case binary.BigEndian.Uint16(q.l4[2:]) != b.Port:
		return fmt.Errorf("ICMP error quotes destination port %d, not the bound port %d", binary.BigEndian.Uint16(q.l4[2:]), b.Port)
	}
	return nil
}

// parseQuoted reads the IP header an ICMP error quotes (of the same IP
// version), which may be truncated after 8 bytes of transport header.
func parseQuoted(b []byte, v6 bool) (ipPacket, bool) {
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return ipPacket{}, false
		}
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || len(b) < ihl+8 {
			return ipPacket{}, false
		}
		return ipPacket{dst: netip.AddrFrom4([4]byte(b[16:20])), proto: b[9], l4: b[ihl:]}, true
	}
	if len(b) < 48 || b[0]>>4 != 6 {
		return ipPacket{}, false
	}
	return ipPacket{v6: true, dst: netip.AddrFrom16([16]byte(b[24:40])), proto: b[6], l4: b[40:]}, true
}
