// Package nodemgr is the node manager of paper 4.2.1: the only privileged
// interface to a node's resources. A caller acquires an rcap (a 128-bit
// secret) for an rspec, passes it on or splits it, and binds it to a slice,
// which creates and starts the slice's sliver through a Runtime. Admission
// control keeps guarantees within the node; rcaps expire on time; all state
// is kept crash-safely in a state directory, one small file per record, and
// reconciled with the runtime at Open.
//
// The Manager is reached over HTTP+JSON on a Unix socket (Serve); the wire
// types and the Go client are in package api. The same Manager serves the
// host's root-only socket and a second one shown to the slivers of
// privileged slices (paper 2.3): every call is made by a principal, named
// by the kernel's peer credentials. Host uid 0 is "central" (central's
// resource manager, the operator); a uid in a slice's UID range is
// "slice:<name>", which may call only while its current rspec holds
// privileges.node_manager. Every rcap has an owner principal and works for
// it alone; pass hands it to another. A broker slice whose rspec carries a
// delegation (api.Rspec.Delegated) owns a pool rcap holding it, from which
// it splits and binds, never beyond it; the local policy (Policy) bounds
// what each broker, central included, may acquire from the node.
package nodemgr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// Node is the capacity and the defaults of the node the Manager runs on.
type Node struct {
	// MemoryBytes is the memory the node can give to slivers; the sum of
	// memory guarantees never exceeds it.
	MemoryBytes int64
	// DiskBytes is the node's slice storage; the sum of disk guarantees
	// never exceeds it.
	DiskBytes int64
	// DefaultMemoryMax is memory_max for an rspec that leaves it zero (0
	// means MemoryBytes).
	DefaultMemoryMax int64
	// DefaultDiskMax is disk_max for an rspec that leaves it zero (0 means
	// DiskBytes).
	DefaultDiskMax int64
	// DefaultImage is the reference image of a bind that names none (""
	// means "default").
	DefaultImage string
	// EphemeralLow and EphemeralHigh are the kernel's ip_local_port_range:
	// ports in it cannot be reserved (0: no such check).
	EphemeralLow, EphemeralHigh uint16
	// NoLowPorts refuses reservations of ports below 1024, on a node whose
	// port manager cannot give them to unprivileged slivers.
	NoLowPorts bool
}

// Options configure Open.
type Options struct {
	// StateDir holds the Manager's records; it is created if missing and
	// must be used by one Manager at a time (Open locks it).
	StateDir string
	// Runtime creates and runs slivers.
	Runtime Runtime
	// Node is the node's capacity.
	Node Node
	// Clock tells time for expiry; nil means the system clock.
	Clock Clock
	// Log receives one record per call and per state change; nil discards.
	Log *slog.Logger
	// UIDBase is the first host UID of the first slice's range (0 means
	// 100000). Ranges are UIDRangeSize wide.
	UIDBase uint32
	// UIDRanges bounds how many ranges are handed out (0 means as many as
	// fit below 2^32-1).
	UIDRanges uint32
	// UIDClaimDir is where the nodes of this machine claim the ranges
	// they hand out, so that no two share one (DefaultUIDClaimDir for a
	// node; "" claims nothing, for tests with fake runtimes).
	UIDClaimDir string
	// Policy is the local policy in force at Open (nil: none); SetPolicy
	// replaces it.
	Policy *Policy
	// MaxSliceRcaps bounds the rcaps one slice may own (0 means
	// DefaultMaxSliceRcaps): each is a record in memory and on disk, and a
	// broker could otherwise make them without end from rspecs that
	// guarantee nothing.
	MaxSliceRcaps int
	// Full, if set, says why the node must take no new sliver now ("":
	// it may), such as a full disk; List shows it as a problem of the
	// node.
	Full func() string
}

// DefaultMaxSliceRcaps is how many rcaps a slice may own at a time.
const DefaultMaxSliceRcaps = 1024

// UIDRangeSize is the width of each slice's host UID and GID range.
const UIDRangeSize = 65536

// Manager is a node manager. Its methods are safe for concurrent use.
//
// It is three parts, each its own type with its own lock: the record store
// (records: the persisted rcap and sliver records and their indexes), the
// admission ledger (ledger: the guarantees and ports summed, checked,
// reserved and released), and the operations, the Manager's own methods
// (acquire, bind, amend, extend, split, pass, release, reclaim, expiry),
// which call the two. The lock order is Manager.mu, then records.mu, then
// ledger.mu: an operation holds Manager.mu while it looks up, checks and
// changes records and reservations, so that what it checked still holds
// when it writes; records and ledger take their own lock inside each
// method and call neither each other nor the Manager while they hold it.
// An operation releases Manager.mu while the runtime creates, starts,
// updates or destroys a sliver, busy marking what it owns meanwhile (only
// putting back a sliver's old limits after a failed update or split
// calls the runtime with it held).
type Manager struct {
	log   *slog.Logger
	rt    Runtime
	node  Node
	clock Clock
	*records
	ledger *ledger

	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	// mu guards the following.
	mu     sync.Mutex
	policy *Policy            // the local policy; nil: none
	busy   map[string]bool    // slices and rcaps with an operation under way
	stuck  map[string]backoff // slivers whose destroy failed -> when to retry
	// retrying holds the rcaps whose expiry failed -> when to retry.
	retrying map[rcapHash]backoff
	// unapplied holds the slivers whose last update the runtime applied
	// only in part -> when to apply it again.
	unapplied map[string]backoff
	expiry    expiryHeap
	closed    bool
	// sweeping is set while releaseStranded runs; sweepAgain asks it for
	// another round.
	sweeping, sweepAgain bool

	maxSliceRcaps int           // Options.MaxSliceRcaps; set once by Open
	full          func() string // Options.Full; nil: never
}

// Open opens the state in opts.StateDir, reconciles it with the runtime
// (finishing or undoing what a crash interrupted, destroying slivers no
// record owns, leaving the rest running undisturbed), and starts the expiry
// loop. Close stops it.
func Open(ctx context.Context, opts Options) (*Manager, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	st, err := openStore(opts.StateDir)
	if err != nil {
		return nil, err
	}
	claims, err := newUIDClaims(opts.UIDClaimDir, opts.StateDir)
	if err != nil {
		st.close()
		return nil, err
	}
	m := newManager(opts, st, claims)
	if err := m.load(); err != nil {
		claims.close()
		st.close()
		return nil, err
	}
	if err := m.reconcile(ctx); err != nil {
		claims.close()
		st.close()
		return nil, err
	}
	if n := claims.heldBy(opts.UIDBase, opts.UIDRanges); n > 0 {
		m.log.Warn("this node's host UID ranges overlap another Orbis node's on this machine: the ranges it holds are skipped; give each node its own (--uid-base, --uid-ranges)",
			"uid_base", opts.UIDBase, "ranges", opts.UIDRanges, "held_by_others", n)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	go m.expiryLoop(loopCtx)
	return m, nil
}

func (o *Options) check() error {
	switch {
	case o.StateDir == "":
		return errors.New("node manager: no state directory")
	case o.Runtime == nil:
		return errors.New("node manager: no runtime")
	case o.Node.MemoryBytes <= 0 || o.Node.DiskBytes <= 0:
		return fmt.Errorf("node manager: node capacity must be positive (memory %d, disk %d)", o.Node.MemoryBytes, o.Node.DiskBytes)
	}
	n := &o.Node
	if n.DefaultMemoryMax <= 0 || n.DefaultMemoryMax > n.MemoryBytes {
		n.DefaultMemoryMax = n.MemoryBytes
	}
	if n.DefaultDiskMax <= 0 || n.DefaultDiskMax > n.DiskBytes {
		n.DefaultDiskMax = n.DiskBytes
	}
	if n.DefaultImage == "" {
		n.DefaultImage = "default"
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.UIDBase == 0 {
		o.UIDBase = 100000
	}
	fit := uint32((uint64(1<<32-1) - uint64(o.UIDBase)) / UIDRangeSize)
	if o.UIDRanges == 0 || o.UIDRanges > fit {
		o.UIDRanges = fit
	}
	return nil
}

func newManager(opts Options, st *store, claims *uidClaims) *Manager {
	return &Manager{
		log:       opts.Log,
		rt:        opts.Runtime,
		node:      opts.Node,
		clock:     opts.Clock,
		records:   newRecords(st, newUIDAllocator(opts.UIDBase, opts.UIDRanges, claims)),
		ledger:    newLedger(),
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		busy:      map[string]bool{},
		stuck:     map[string]backoff{},
		retrying:  map[rcapHash]backoff{},
		unapplied: map[string]backoff{},
		policy:    opts.Policy,

		maxSliceRcaps: cmp.Or(opts.MaxSliceRcaps, DefaultMaxSliceRcaps),
		full:          opts.Full,
	}
}

// SetPolicy puts p in force for the acquires and binds that follow (nil:
// no policy). Rcaps and slivers that exist already stay, even beyond it.
func (m *Manager) SetPolicy(p *Policy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policy = p
}

// Close stops the expiry loop and releases the state directory. Slivers
// keep running: stopping the node manager never stops a sliver.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.records.close()
}

// kick wakes the expiry loop to look at its deadlines again.
func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}
