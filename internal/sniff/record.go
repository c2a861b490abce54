package sniff

import (
	"encoding/binary"
	"log/slog"
	"time"
)

// nfnetlink_log message and attribute types (linux/netfilter/nfnetlink_log.h).
const (
	nlmsgHdrLen   = 16       // struct nlmsghdr
	packetMsgType = 4<<8 | 0 // NFNL_SUBSYS_ULOG, NFULNL_MSG_PACKET
	attrMark      = 2        // NFULA_MARK: the packet's mark, big-endian
	attrPayload   = 9        // NFULA_PAYLOAD
	attrSeq       = 12       // NFULA_SEQ: the group's own sequence number
	attrTypeMask  = 0x3fff   // NLA_TYPE_MASK: without the nested and byte-order bits
)

// dropWarnEvery is how often at most the reader logs the kernel's drops.
const dropWarnEvery = 10 * time.Second

// reader turns batches of log records into packets and counts the records
// the kernel dropped from gaps in their sequence numbers.
type reader struct {
	s   *Stream
	log *slog.Logger
	// next is the sequence number of the next record: a group's
	// numbering starts at 0 when it is bound, so records lost before
	// the first one read are counted too.
	next uint32
	// slice names the slice of a packet's mark, or "".
	slice func(mark uint32) string
	// unlogged counts drops not logged yet; lastWarn is when they were.
	unlogged uint64
	lastWarn time.Time
}

func newReader(s *Stream, log *slog.Logger, slice func(mark uint32) string) *reader {
	if slice == nil {
		slice = func(uint32) string { return "" }
	}
	return &reader{s: s, log: log, slice: slice}
}

// batch handles one datagram of netlink messages, received at now.
func (r *reader) batch(b []byte, now time.Time) {
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return
		}
		if binary.NativeEndian.Uint16(b[4:]) == packetMsgType {
			r.message(b[nlmsgHdrLen:l], now)
		}
		b = b[min(align4(l), len(b)):]
	}
	if r.unlogged > 0 && now.Sub(r.lastWarn) >= dropWarnEvery {
		r.log.Warn("sniffer stream: the kernel dropped packets", "dropped", r.unlogged, "total", r.s.KernelDropped())
		r.unlogged, r.lastWarn = 0, now
	}
}

// message publishes the packet of one record: its nfgenmsg header, then
// its attributes.
func (r *reader) message(data []byte, now time.Time) {
	if len(data) < 4 {
		return
	}
	p := Packet{Time: now}
	var payload []byte
	for a := data[4:]; len(a) >= 4; {
		l := int(binary.NativeEndian.Uint16(a))
		if l < 4 || l > len(a) {
			break
		}
		v := a[4:l]
		switch binary.NativeEndian.Uint16(a[2:]) & attrTypeMask {
		case attrPayload:
			payload = v
		case attrMark:
			if len(v) == 4 {
				p.Slice = r.slice(binary.BigEndian.Uint32(v))
			}
		case attrSeq:
			if len(v) == 4 {
				r.sequence(binary.BigEndian.Uint32(v))
			}
		}
		a = a[min(align4(l), len(a)):]
	}
	if parse(payload, &p) {
		r.s.Publish(p)
	}
}

// sequence counts the records missing before seq. A number from before
// the expected one means the group was bound anew (its numbering
// restarted), not a loss.
func (r *reader) sequence(seq uint32) {
	if gap := seq - r.next; gap != 0 && gap < 1<<31 {
		r.s.kernelDropped.Add(uint64(gap))
		r.unlogged += uint64(gap)
	} else if gap != 0 {
		r.log.Warn("sniffer stream: the log's numbering restarted", "expected", r.next, "got", seq)
	}
	r.next = seq + 1
}

func align4(n int) int { return (n + 3) &^ 3 }
