package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/api/rawsock"
)

// packetWriter prints one packet of the watch stream.
type packetWriter interface {
	write(p *api.AdminPacket) error
}

// textWriter prints packets tcpdump-style, one a line:
//
//	15:04:05.000000 pl_foo 10.0.0.1.4321 > 10.0.0.2.80: tcp [S.] length 60
type textWriter struct{ w *bufio.Writer }

func (t textWriter) write(p *api.AdminPacket) error {
	slice := p.Slice
	if slice == "" {
		slice = "-"
	}
	src, dst, proto := p.Src, p.Dst, api.ProtoName(p.Proto)
	if p.Proto == 6 || p.Proto == 17 {
		src, dst = fmt.Sprintf("%s.%d", src, p.SrcPort), fmt.Sprintf("%s.%d", dst, p.DstPort)
	}
	flags := ""
	if p.Proto == 6 {
		flags = " [" + tcpFlags(p.Flags) + "]"
	}
	_, err := fmt.Fprintf(t.w, "%s %s %s > %s: %s%s length %d\n", p.Time.Local().Format("15:04:05.000000"),
		slice, src, dst, proto, flags, p.Len)
	return err
}

// tcpFlags writes flags as tcpdump does: S SYN, F FIN, R RST, P PSH, U
// URG, "." ACK.
func tcpFlags(f uint8) string {
	var s string
	for _, b := range []struct {
		bit uint8
		c   string
	}{{0x02, "S"}, {0x01, "F"}, {0x04, "R"}, {0x08, "P"}, {0x20, "U"}, {0x10, "."}} {
		if f&b.bit != 0 {
			s += b.c
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// pcapWriter writes packets as pcap (LINKTYPE_RAW, the classic format
// tcpdump -r reads): each record is an IP header and a TCP or UDP header
// rebuilt from the summary, with the packet's real length as its
// original length, so tcpdump shows the length on the wire.
type pcapWriter struct{ w *bufio.Writer }

func newPcapWriter(w *bufio.Writer) (*pcapWriter, error) {
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], rawsock.PcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 65535)
	binary.LittleEndian.PutUint32(h[20:], rawsock.LinkTypeRaw)
	if _, err := w.Write(h); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	return &pcapWriter{w: w}, w.Flush()
}

func (p *pcapWriter) write(pkt *api.AdminPacket) error {
	hdr := headers(pkt)
	if hdr == nil {
		return nil
	}
	rec := make([]byte, 16, 16+len(hdr))
	binary.LittleEndian.PutUint32(rec[0:], uint32(pkt.Time.Unix()))
	binary.LittleEndian.PutUint32(rec[4:], uint32(pkt.Time.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(hdr)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(max(pkt.Len, len(hdr))))
	if _, err := p.w.Write(append(rec, hdr...)); err != nil {
		return fmt.Errorf("write pcap record: %w", err)
	}
	return nil
}

// headers rebuilds the IP and transport headers of a packet summary; nil
// if its addresses do not parse.
func headers(p *api.AdminPacket) []byte {
	src, err1 := netip.ParseAddr(p.Src)
	dst, err2 := netip.ParseAddr(p.Dst)
	if err1 != nil || err2 != nil || src.Is4() != dst.Is4() {
		return nil
	}
	l4 := transport(p)
	if src.Is4() {
		ip := make([]byte, 20)
		ip[0], ip[8], ip[9] = 0x45, 64, p.Proto
		binary.BigEndian.PutUint16(ip[2:], uint16(max(p.Len, 20+len(l4))))
		copy(ip[12:], src.AsSlice())
		copy(ip[16:], dst.AsSlice())
		binary.BigEndian.PutUint16(ip[10:], checksum(ip))
		return append(ip, l4...)
	}
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 0x60, p.Proto, 64
	binary.BigEndian.PutUint16(ip[4:], uint16(max(p.Len-40, len(l4))))
	copy(ip[8:], src.AsSlice())
	copy(ip[24:], dst.AsSlice())
	return append(ip, l4...)
}

// transport rebuilds a TCP (ports, flags) or UDP (ports, length) header.
func transport(p *api.AdminPacket) []byte {
	switch p.Proto {
	case 6:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h, p.SrcPort)
		binary.BigEndian.PutUint16(h[2:], p.DstPort)
		h[12], h[13] = 5<<4, p.Flags
		binary.BigEndian.PutUint16(h[14:], 65535)
		return h
	case 17:
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, p.SrcPort)
		binary.BigEndian.PutUint16(h[2:], p.DstPort)
		ipLen := 20
		if netip.MustParseAddr(p.Src).Is6() {
			ipLen = 40
		}
		binary.BigEndian.PutUint16(h[4:], uint16(max(p.Len-ipLen, 8)))
		return h
	}
	return nil
}

// checksum is the Internet checksum of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
