package rawsock

import (
	"log/slog"
	"net/netip"
)

// Config is what the service needs from the node. Owner, OwnsPort and
// NodeAddrs are required.
type Config struct {
	// Owner names the slice whose sliver runs as host UID uid (taken
	// from SO_PEERCRED of each connection); ok is false for a UID that is
	// no sliver's, which is then refused everything.
	Owner func(uid uint32) (slice string, ok bool)
	// OwnsPort reports whether slice owns the TCP or UDP port (proto
	// "tcp" or "udp"): the port manager's answer. A raw socket is bound
	// only to a port its slice owns.
	OwnsPort func(slice, proto string, port uint16) bool
	// NodeAddrs returns the node's own addresses: the only source
	// addresses a sliver may send from. The service asks at most once a
	// second.
	NodeAddrs func() []netip.Addr
	// Log receives one record per binding and per refusal.
	Log *slog.Logger
	// NetNS, when set, is the path of the network namespace the service
	// captures, sends and installs its nftables table in (tests and the
	// testbed use it); empty means the caller's.
	NetNS string
	// QueueLen bounds each socket's queue of received packets that the
	// sliver has not read yet; past it packets are dropped and counted.
	// 0 means 256.
	QueueLen int
}

func (c Config) queueLen() int {
	if c.QueueLen > 0 {
		return c.QueueLen
	}
	return 256
}

func (c Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}
