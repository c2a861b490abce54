// Package rawsock is the client of a node's safe raw socket service (paper
// section 4.3): a sliver's unprivileged program asks the service, over the
// Unix socket every sliver has at DefaultPath, for a raw socket bound to a
// TCP or UDP port its slice owns or to an ICMP identifier, then sends IP
// packets that the service checks (the node's source address, the bound
// port or identifier, no fragments) and receives the packets of its binding
// with their IP and transport headers. Ping and Traceroute are built on it.
//
// The wire protocol is documented in docs/rawsock.md so that programs in
// other languages can speak it; this file is its Go encoding. It imports
// nothing from Orbis's internal packages.
package rawsock

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// DefaultPath is where the service's socket is inside every sliver.
const DefaultPath = "/run/orbis/rawsock.sock"

// IP protocol numbers a socket is bound to.
const (
	ProtoICMP uint8 = 1  // an ICMP (and ICMPv6) echo identifier
	ProtoTCP  uint8 = 6  // a TCP port
	ProtoUDP  uint8 = 17 // a UDP port
)

// Message types. Requests go from the sliver to the service; Result and
// Packet come back.
const (
	MsgBind   uint8 = 1    // body: proto u8, 0 u8, port or ICMP id u16
	MsgSend   uint8 = 2    // body: a packet (FlagHdrIncl) or a SendTo header and segment
	MsgStats  uint8 = 3    // no body
	MsgClose  uint8 = 4    // no body: release the binding, answer, hang up
	MsgResult uint8 = 0x81 // body: status u8, then a message or a payload
	MsgPacket uint8 = 0x82 // body: one received IP packet
	MsgHangup uint8 = 0x84 // body: status u8, then why the service closes the connection, which it does next
)

// FlagHdrIncl on a MsgSend says its body is a whole IP packet, header
// included; without it the body is a SendTo header then the transport
// segment, and the service writes the IP header and transport checksum.
const FlagHdrIncl uint8 = 1

// FlagSniff on a MsgBind asks for a sniffer socket: copies of every
// packet whose local side is a TCP or UDP port the slice holds alone,
// without taking the port from anyone; a sniffer cannot send.
const FlagSniff uint8 = 2

// Result statuses.
const (
	StatusOK       uint8 = 0 // done
	StatusRefused  uint8 = 1 // refused by policy: a bad packet, a port not owned
	StatusBad      uint8 = 2 // a malformed request
	StatusInternal uint8 = 3 // the node failed to do it
)

// HeaderLen is the size of every message's header: type u8, flags u8,
// 0 u16, seq u32 (big-endian), which a Result echoes.
const HeaderLen = 8

// MaxMessage bounds a message: a 64 KiB IP packet plus headers.
const MaxMessage = 65535 + HeaderLen + 20

// Message is one message on the socket.
type Message struct {
	Type, Flags uint8
	Seq         uint32
	Body        []byte
}

// Marshal encodes m as one datagram.
func (m Message) Marshal() []byte {
	b := make([]byte, HeaderLen, HeaderLen+len(m.Body))
	b[0], b[1] = m.Type, m.Flags
	binary.BigEndian.PutUint32(b[4:8], m.Seq)
	return append(b, m.Body...)
}

// ParseMessage decodes one datagram; the body aliases b.
func ParseMessage(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return Message{}, fmt.Errorf("message of %d bytes is shorter than its header", len(b))
	}
	return Message{Type: b[0], Flags: b[1], Seq: binary.BigEndian.Uint32(b[4:8]), Body: b[HeaderLen:]}, nil
}

// BindBody encodes a bind request's body.
func BindBody(proto uint8, port uint16) []byte {
	return []byte{proto, 0, byte(port >> 8), byte(port)}
}

// ParseBind decodes a bind request's body, or a successful bind result's
// payload.
func ParseBind(body []byte) (proto uint8, port uint16, err error) {
	if len(body) != 4 {
		return 0, 0, fmt.Errorf("bind body of %d bytes, want 4", len(body))
	}
	return body[0], binary.BigEndian.Uint16(body[2:4]), nil
}

// SendTo is the header of a send without FlagHdrIncl: where to, and the
// IPv4 TTL or IPv6 hop limit (0 means 64).
type SendTo struct {
	Dst netip.Addr
	TTL uint8
}

// Marshal encodes s followed by the segment: ttl u8, address length u8
// (4 or 16), 0 u16, the address.
func (s SendTo) Marshal(segment []byte) []byte {
	a := s.Dst.Unmap().AsSlice()
	b := append([]byte{s.TTL, byte(len(a)), 0, 0}, a...)
	return append(b, segment...)
}

// ParseSendTo decodes a send body without FlagHdrIncl into its header and
// the transport segment.
func ParseSendTo(body []byte) (SendTo, []byte, error) {
	if len(body) < 4 {
		return SendTo{}, nil, errors.New("send body shorter than its header")
	}
	n := int(body[1])
	if (n != 4 && n != 16) || len(body) < 4+n {
		return SendTo{}, nil, fmt.Errorf("send body: bad address length %d", n)
	}
	dst, _ := netip.AddrFromSlice(body[4 : 4+n])
	return SendTo{Dst: dst, TTL: body[0]}, body[4+n:], nil
}

// Stats counts one socket's packets.
type Stats struct {
	Received uint64 // packets relayed to the sliver
	Dropped  uint64 // packets dropped because the sliver did not read them
	Sent     uint64 // packets sent
	Refused  uint64 // packets refused by the checker
}

// Marshal encodes s as a stats result's payload: four u64.
func (s Stats) Marshal() []byte {
	b := make([]byte, 32)
	for i, v := range []uint64{s.Received, s.Dropped, s.Sent, s.Refused} {
		binary.BigEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// ParseStats decodes a stats result's payload.
func ParseStats(b []byte) (Stats, error) {
	if len(b) != 32 {
		return Stats{}, fmt.Errorf("stats of %d bytes, want 32", len(b))
	}
	u := func(i int) uint64 { return binary.BigEndian.Uint64(b[8*i:]) }
	return Stats{Received: u(0), Dropped: u(1), Sent: u(2), Refused: u(3)}, nil
}

// Error is a request the service did not carry out.
type Error struct {
	Status  uint8
	Message string
}

func (e *Error) Error() string { return "raw socket service: " + e.Message }

// ErrRefused matches (with errors.Is) every refusal by policy.
var ErrRefused = errors.New("refused")

// Is makes errors.Is(err, ErrRefused) true for a refusal.
func (e *Error) Is(target error) bool { return target == ErrRefused && e.Status == StatusRefused }
