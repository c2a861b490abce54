package rawsock

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// LinkTypeRaw is the pcap link type of packets that begin with their
// IPv4 or IPv6 header (LINKTYPE_RAW), as a raw or sniffer socket
// receives them.
const LinkTypeRaw = 101

// PcapMagic is the first word of a pcap file with microsecond
// timestamps, in the byte order of the file.
const PcapMagic = 0xa1b2c3d4

// PcapWriter writes packets in the classic pcap format (the one
// `tcpdump -r` reads), little-endian, link type LinkTypeRaw.
type PcapWriter struct {
	w       io.Writer
	snaplen int
}

// NewPcapWriter writes the pcap file header to w and returns a writer of
// its records; snaplen (0: 65535) bounds the bytes kept of each packet.
func NewPcapWriter(w io.Writer, snaplen int) (*PcapWriter, error) {
	if snaplen <= 0 {
		snaplen = 65535
	}
	h := make([]byte, 24)
	binary.LittleEndian.PutUint32(h[0:], PcapMagic)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], LinkTypeRaw)
	if _, err := w.Write(h); err != nil {
		return nil, fmt.Errorf("write pcap header: %w", err)
	}
	return &PcapWriter{w: w, snaplen: snaplen}, nil
}

// WritePacket writes one record: pkt (cut to the snap length), captured
// at t.
func (p *PcapWriter) WritePacket(t time.Time, pkt []byte) error {
	kept := pkt[:min(len(pkt), p.snaplen)]
	h := make([]byte, 16, 16+len(kept))
	binary.LittleEndian.PutUint32(h[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(t.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(kept)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(pkt)))
	if _, err := p.w.Write(append(h, kept...)); err != nil {
		return fmt.Errorf("write pcap record: %w", err)
	}
	return nil
}
