package rawfd

import (
	"log/slog"
	"time"

	"github.com/orbisproject/orbis/internal/netfilter"
)

// DefaultTable is the nftables table (family inet) of a node's raw
// sockets.
const DefaultTable = "orbis_rawfd"

// Defaults of Config.
const (
	DefaultMaxPerSlice = 64
	// DefaultMaxPacketPerSlice is small: every packet socket's filter
	// runs on every frame the node sends or receives.
	DefaultMaxPacketPerSlice = 4
	DefaultCallsPerSec       = 100
	DefaultSyncEvery         = time.Second
	// DefaultMaxPacketRing is libpcap's default buffer, twice.
	DefaultMaxPacketRing = 4 << 20
)

// rawMarkBase is the high half of every RawMark: one value no other part
// of the node uses (netfilter's socket marks are 0x4f52xxxx).
const rawMarkBase = 0x4f530000

// RawMark is the SO_MARK of the raw sockets of the sliver with this
// netfilter index: the table's output rules check every packet with it.
func RawMark(index uint32) uint32 { return rawMarkBase | index&0xffff }

// recvMark is the packet mark the receive filter of a raw socket of this
// index admits: the slice's netfilter mark.
func recvMark(index uint32) uint32 { return netfilter.SocketMark(index) }

// Slice is what the Server needs to know of a sliver.
type Slice struct {
	Name string
	// Index is the sliver's netfilter index (1..netfilter.MaxIndex).
	Index uint32
	// UIDBase and UIDCount are its host UID range; its raw sockets are
	// owned by UIDBase.
	UIDBase, UIDCount uint32
}

// Port is a TCP (6) or UDP (17) port.
type Port struct {
	Proto uint8
	Port  uint16
}

// Config is what the Server needs from the node.
type Config struct {
	// Ports returns the TCP and UDP ports slice holds alone now (the
	// port manager's ownership rule): with Claim, the only source ports
	// its raw sockets may send from and whose packets its raw and
	// packet sockets receive. Without Claim it is not used: nothing
	// keeps a port the slice gave up from others until the next sync,
	// so raw and packet sockets get no TCP or UDP port at all. Nil
	// means none.
	Ports func(slice string) ([]Port, error)
	// Claim, when set, keeps p from every other slice and the node while
	// the table lists it as slice's (portmgr.Manager.Claim: their binds of
	// it fail) until release is called; revoke is called when a
	// reservation for another slice takes it back (the port then leaves
	// the table at once). Without Claim, raw and packet sockets carry
	// ICMP only (see Ports).
	Claim func(slice string, p Port, revoke func()) (release func(), err error)
	// Table is the nftables table's name (DefaultTable if empty).
	Table string
	// NetNS, when set, is the path of the network namespace the sockets
	// and the table are made in (tests); empty means the caller's.
	NetNS string
	// MaxPerSlice bounds the raw and packet sockets of one slice
	// (DefaultMaxPerSlice if 0).
	MaxPerSlice int
	// MaxPacketPerSlice bounds the packet sockets of one slice, counted
	// within MaxPerSlice (DefaultMaxPacketPerSlice if 0): each one's
	// filter runs on every frame of the node.
	MaxPacketPerSlice int
	// CallsPerSec bounds how many raw socket() and setsockopt(IP_RECVERR)
	// calls of one sliver the Server answers a second, after a burst of as many (DefaultCallsPerSec
	// if 0): a caller past it waits in the call, so a slice looping on
	// socket() costs the agent no more than that.
	CallsPerSec int
	// SyncEvery is how often the table's ports follow Ports
	// (DefaultSyncEvery if 0).
	SyncEvery time.Duration
	// MaxPacketRing bounds the bytes of the receive rings
	// (PACKET_RX_RING) of all the live packet sockets of one slice
	// together, memory the kernel does not charge to the slice
	// (DefaultMaxPacketRing if 0).
	MaxPacketRing int
	Log           *slog.Logger
}

func (c *Config) defaults() {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if c.MaxPerSlice <= 0 {
		c.MaxPerSlice = DefaultMaxPerSlice
	}
	if c.MaxPacketPerSlice <= 0 {
		c.MaxPacketPerSlice = DefaultMaxPacketPerSlice
	}
	if c.CallsPerSec <= 0 {
		c.CallsPerSec = DefaultCallsPerSec
	}
	if c.SyncEvery <= 0 {
		c.SyncEvery = DefaultSyncEvery
	}
	if c.MaxPacketRing <= 0 {
		c.MaxPacketRing = DefaultMaxPacketRing
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Ports == nil || c.Claim == nil {
		// Without Claim no port is the slice's for sure: see Ports.
		c.Ports = func(string) ([]Port, error) { return nil, nil }
	}
}
