package rawsock

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/orbisproject/orbis/internal/portmgr"
)

// Config is what the service needs from the node. Owner, Holders and
// NodeAddrs are required.
type Config struct {
	// Owner names the slice whose sliver runs as host UID uid (taken
	// from SO_PEERCRED of each connection); ok is false for a UID that is
	// no sliver's, which is then refused everything.
	Owner func(uid uint32) (slice string, ok bool)
	// Holders reads who holds which TCP and UDP port now: the port
	// manager's answer (portmgr.Holders), read once per bind and once
	// per recheck. A raw or sniffer socket is bound only to a port its
	// slice holds alone, on the node's addresses it holds it on, and is
	// closed when the slice stops holding them (asked again every
	// RecheckEvery). A *portmgr.NotHeldError is a refusal, shown to the
	// slice.
	Holders func() (*portmgr.Holders, error)
	// Claim holds proto/port ("tcp" or "udp") for slice's raw or sniffer
	// socket until release is called (portmgr.Manager.Claim): no one
	// else may bind the port, nor get it as an ephemeral one, meanwhile.
	// The service claims a port its slice holds alone before it drops
	// the port's packets or captures them, and releases it after. A
	// *portmgr.NotHeldError is a refusal; nil claims nothing, and then
	// until the recheck (RecheckEvery) a binding whose slice let its
	// socket go still takes the packets of whoever binds the port next.
	// The claimer calls revoke when the claim is taken back (the port is
	// reserved for another slice): the socket is hung up on with the
	// reason, and revoke returns once its binding is released.
	Claim func(slice, proto string, port uint16, revoke portmgr.Revoke) (release func(), err error)
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
	// Limits bound what callers may hold of the service.
	Limits
	// RecheckEvery is how often the service reads Holders again for
	// every bound TCP or UDP socket (0: DefaultRecheckEvery).
	RecheckEvery time.Duration
}

// Limits bound what the service holds for its callers, so that no slice
// can exhaust the node agent's file descriptors or memory. A zero field
// means its Default value.
type Limits struct {
	// MaxConns bounds the connections the service holds at a time, all
	// callers together; MaxConnsPerSlice those of one slice (all its
	// UIDs; a UID that is no sliver's counts alone), and
	// MaxBindingsPerSlice its bound sockets (raw and sniffers). A
	// connection past a bound is told why (MsgHangup) and closed at
	// accept; a bind past it is refused. MaxConns is lowered, if need be,
	// to keep the service's file descriptors (about FDsPerConn a
	// connection) within half of the process's RLIMIT_NOFILE.
	MaxConns            int
	MaxConnsPerSlice    int
	MaxBindingsPerSlice int
	// QueueLen and QueueBytes bound each socket's queue of received
	// packets that the sliver has not read yet, in packets and in bytes;
	// past either, packets are dropped and counted.
	QueueLen   int
	QueueBytes int
}

// Defaults of Limits and Config.RecheckEvery.
const (
	DefaultQueueLen            = 256
	DefaultQueueBytes          = 256 << 10
	DefaultMaxConns            = 512
	DefaultMaxConnsPerSlice    = 64
	DefaultMaxBindingsPerSlice = 32
	DefaultRecheckEvery        = time.Second
	// FDsPerConn is how many file descriptors one connection may hold:
	// its Unix socket, a capture, an IPv4 and an IPv6 raw socket, and an
	// nftables netlink socket while it binds.
	FDsPerConn = 5
)

// or is v, or def when v is not positive.
func or[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (c Config) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}
