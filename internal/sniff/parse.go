package sniff

import (
	"encoding/binary"
	"net/netip"
)

// parse fills p's addresses, protocol, ports, TCP flags and length from
// the first bytes of an IP packet; false if they are not an IP header.
func parse(b []byte, p *Packet) bool {
	var l4 []byte
	switch {
	case len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 || len(b) < ihl {
			return false
		}
		p.Src, p.Dst = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20]))
		p.Proto, p.Len = b[9], int(binary.BigEndian.Uint16(b[2:]))
		if binary.BigEndian.Uint16(b[6:])&0x1fff == 0 { // not a later fragment
			l4 = b[ihl:]
		}
	case len(b) >= 40 && b[0]>>4 == 6:
		p.Src, p.Dst = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40]))
		p.Proto, p.Len = b[6], 40+int(binary.BigEndian.Uint16(b[4:]))
		l4 = b[40:]
	default:
		return false
	}
	if (p.Proto == 6 || p.Proto == 17) && len(l4) >= 4 {
		p.SrcPort, p.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
	}
	if p.Proto == 6 && len(l4) >= 14 {
		p.TCPFlags = l4[13]
	}
	return true
}
