// Package sniff is the node's administrative sniffer stream (paper
// section 4.3, issue 5 item 5): every outgoing packet of the node, with
// its headers summarized and tagged with the slice it belongs to, for the
// traffic auditor and the admin slice.
//
// Source. The tagger (internal/netfilter, Config.LogGroup) logs every
// outgoing packet to an NFLOG group, a sliver's once it is tagged, with
// the sliver's mark (netfilter.SocketMark) as the packet's mark, so a
// packet is attributed exactly as it is tagged for shaping and accounting
// (by socket UID, socket mark, or conntrack mark for the packets the
// kernel sends on a sliver's behalf); Config.Slice turns the mark into the
// slice's name. The node's own packets (no sliver's mark) are reported as
// slice "". The log keeps only the headers
// (netfilter.LogSnap bytes) and hands them over in batches. A Source reads
// that group (Open, then Source.Run); Stream fans the packets out to subscribers, each with its
// own bounded buffer, so a slow reader loses packets (counted) and never
// slows the capture or the other readers. Kernel-side losses (the
// listener's socket overflowed) are counted exactly from gaps in the
// log's sequence numbers: KernelDropped, and in each subscriber's count of
// the packets it lost.
package sniff

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Packet is one outgoing packet of the node.
type Packet struct {
	Time             time.Time
	Slice            string // "" for the node's own traffic
	Src, Dst         netip.Addr
	Proto            uint8  // IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6)
	SrcPort, DstPort uint16 // TCP and UDP only
	TCPFlags         uint8  // TCP only: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10
	Len              int    // bytes of the IP packet
}

// TCP flags in Packet.TCPFlags.
const (
	TCPFin = 0x01
	TCPSyn = 0x02
	TCPRst = 0x04
	TCPAck = 0x10
)

// IsConnect reports whether p opens a TCP connection: a SYN without ACK.
func (p Packet) IsConnect() bool {
	return p.Proto == 6 && p.TCPFlags&(TCPSyn|TCPAck) == TCPSyn
}

// Stream fans packets out to its subscribers. A Source feeds it from the
// kernel; tests and fakes call Publish. Its methods are safe for
// concurrent use.
type Stream struct {
	kernelDropped atomic.Uint64

	// mu guards the following.
	mu   sync.RWMutex
	subs []*subscriber // a slice, cheaper than a map to walk per packet
}

type subscriber struct {
	ch         chan Packet
	dropped    atomic.Uint64
	kernelBase uint64 // KernelDropped when it subscribed
}

// NewStream returns a stream with no subscribers.
func NewStream() *Stream {
	return &Stream{}
}

// Subscribe returns a channel of the packets published from now until ctx
// ends, when the channel is closed. It holds at most buffer packets (at
// least 1) that the subscriber has not read; packets that find it full
// are dropped. The returned function says how many packets the
// subscriber lost so far: those dropped at its buffer, and those the
// kernel dropped before the stream got them (KernelDropped) since it
// subscribed.
func (s *Stream) Subscribe(ctx context.Context, buffer int) (<-chan Packet, func() (dropped uint64)) {
	sub := &subscriber{ch: make(chan Packet, max(buffer, 1)), kernelBase: s.kernelDropped.Load()}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.mu.Unlock()
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.subs = slices.DeleteFunc(s.subs, func(o *subscriber) bool { return o == sub })
		close(sub.ch)
		s.mu.Unlock()
	})
	return sub.ch, func() uint64 { return sub.dropped.Load() + s.kernelDropped.Load() - sub.kernelBase }
}

// Publish hands p to every subscriber that has room, without blocking.
func (s *Stream) Publish(p Packet) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sub := range s.subs {
		select {
		case sub.ch <- p:
		default:
			sub.dropped.Add(1)
		}
	}
}

// KernelDropped is how many packets the kernel logged but the stream
// never got (its socket overflowed), over every Source run on s.
func (s *Stream) KernelDropped() uint64 { return s.kernelDropped.Load() }
