package sensor

import (
	"context"
	"net/netip"
	"time"
)

// SliceSample is what a SliceSource measures of one slice at one moment.
// Counters are cumulative; the server turns their deltas into rates.
type SliceSample struct {
	// Name is the slice's name (at most 64 characters).
	Name string
	// CPUUsage is the CPU time every process of the slice ever used.
	CPUUsage time.Duration
	// MemoryBytes is the memory charged to the slice now.
	MemoryBytes int64
	// Procs is the number of the slice's tasks now.
	Procs int64
	// TxBytes and RxBytes count the bytes the slice sent and received.
	TxBytes, RxBytes uint64
}

// SliceSource measures every slice of the node.
type SliceSource interface {
	// Slices returns one sample per slice, in any order.
	Slices(ctx context.Context) ([]SliceSample, error)
}

// SliceFunc adapts a function to a SliceSource.
type SliceFunc func(ctx context.Context) ([]SliceSample, error)

// Slices implements SliceSource.
func (f SliceFunc) Slices(ctx context.Context) ([]SliceSample, error) { return f(ctx) }

// Node is one node of the whole system, as central lists it.
type Node struct {
	// ID is the node's id at central.
	ID string
	// Hostname is the node's DNS name.
	Hostname string
	// IP is the node's address ("" if central has none).
	IP string
	// Site is the login base of the node's site ("" if unknown).
	Site string
}

// NodeSource lists the nodes of the system. It may be slow (a round trip
// to central): the server caches its answer.
type NodeSource interface {
	Nodes(ctx context.Context) ([]Node, error)
}

// NodeFunc adapts a function to a NodeSource.
type NodeFunc func(ctx context.Context) ([]Node, error)

// Nodes implements NodeSource.
func (f NodeFunc) Nodes(ctx context.Context) ([]Node, error) { return f(ctx) }

// PortOwner is who owns one port of the node.
type PortOwner struct {
	// Proto is "tcp" or "udp".
	Proto string
	// Port is the port number.
	Port uint16
	// Slice owns the port.
	Slice string
	// Kind says how the slice came to own it, as the port manager names
	// it (such as "bound" for the first binder or "reserved").
	Kind string
}

// PortSource lists the owners of the node's ports (the port manager).
type PortSource interface {
	Ports(ctx context.Context) ([]PortOwner, error)
}

// PortFunc adapts a function to a PortSource.
type PortFunc func(ctx context.Context) ([]PortOwner, error)

// Ports implements PortSource.
func (f PortFunc) Ports(ctx context.Context) ([]PortOwner, error) { return f(ctx) }

// ConnectEvent is one connect call made by a slice.
type ConnectEvent struct {
	// Time is when the connection was attempted.
	Time time.Time
	// Slice made the call.
	Slice string
	// Proto is "tcp" or "udp".
	Proto string
	// Src and Dst are the connection's source and destination.
	Src, Dst netip.AddrPort
}

// Events delivers the node's connect calls as they happen (the network
// layer's connection tracking, once it exists).
type Events interface {
	// Subscribe delivers events on the channel it returns until ctx is
	// done, then closes the channel. A source never blocks on a slow
	// receiver: it drops events instead.
	Subscribe(ctx context.Context) (<-chan ConnectEvent, error)
}

// Bytes counts one slice's traffic.
type Bytes struct {
	// Tx and Rx are the bytes sent and received so far.
	Tx, Rx uint64
}

// ByteCounter returns every slice's traffic counters, by slice name (the
// network layer's per-slice accounting).
type ByteCounter func(ctx context.Context) (map[string]Bytes, error)
