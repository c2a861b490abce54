// Package admin is the node's admin service (paper section 4.1.2, issue 7
// item 3): the tools of a site's administrators, with less than root. A
// slice whose rspec grants Privileges.Admin finds the service's socket at
// /run/orbis-admin/admin.sock in its slivers (api.AdminSocket); the
// service lists and signals the processes of the node's slivers (never a
// host process: root has its own tools), caps the node's
// outgoing rate, and streams the node's outgoing traffic, tcpdump-style,
// from the administrative sniffer stream.
//
// Those are its only powers: it never writes into a sliver's files, opens
// no device, and hands out no file descriptor; the admin sliver itself
// stays an ordinary sliver. Callers are identified by the kernel
// (SO_PEERCRED): a host UID in the range of a slice that holds the
// privilege, or host UID 0 (the operator). Every call, refused ones
// included, is logged with who made it (slice, UID inside the sliver,
// PID) in the node's log and in bounded logs under the node's state
// directory (ReadActions; `orbis admin log`).
//
// Those logs cannot be flushed by noise: the actions that change the node
// (a kill that was sent, a cap that was set) go to a log of their own,
// every one of them, kept for Config.ActionsRetention however many follow
// (an admin slice makes at most Config.MaxActionsPerMinute), and nothing
// else does; the rest (ps, bwcap shown,
// watches, refusals, failures) go to another, where each caller (a slice,
// or a host UID in none) gets one line per op every CallLogEvery and the
// calls in between are counted (see ActionsFile). An admin slice calling
// ps in a loop, or a refused caller, fills only the second log, and
// slowly.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/orbisproject/orbis/internal/httpserve"
	"github.com/orbisproject/orbis/internal/peercred"
	"github.com/orbisproject/orbis/internal/sniff"
)

// ShareDir is the directory under the node's state directory that holds
// the service's socket, SocketName; the sandbox shows it read-only at
// /run/orbis-admin in the slivers of admin slices.
const (
	ShareDir   = "admin-share"
	SocketName = "admin.sock"
	// SliverDir is where ShareDir appears inside an admin slice's slivers.
	SliverDir = "/run/orbis-admin"
)

// Config configures the service. Every root is a parameter so tests can
// run it in temporary directories.
type Config struct {
	// Authorize names the slice whose UID range holds a host UID and says
	// whether its current rspec grants Privileges.Admin. Host UID 0 is
	// always allowed and never asked about.
	Authorize func(uid uint32) (slice string, admin bool)
	// StateDir is the node's state directory: the bandwidth cap is
	// recorded there (shaping.CapFile) and the action log kept under
	// <StateDir>/admin.
	StateDir string
	// ProcRoot is where proc is mounted (default /proc).
	ProcRoot string
	// Self is the node agent's PID, which is never signalled (default:
	// this process).
	Self int
	// AppliedCap returns the cap the node's shaper applies now, in kbit/s
	// (nil or 0: the node shapes nothing).
	AppliedCap func() int64
	// PolicyCap returns the node's local policy bound on the cap, in
	// kbit/s (nil or ok false: no bound).
	PolicyCap func() (kbit int64, ok bool)
	// CapChanged, if not nil, is told the cap a call has just recorded,
	// so the node applies it at once (the file is for the node's next
	// start). It must not block.
	CapChanged func(kbit int64)
	// Stream is the node's administrative sniffer stream (nil: watch is
	// refused).
	Stream *sniff.Stream
	// WatchBuffer is how many packets a watcher may lag behind before
	// packets are dropped for it (default 4096).
	WatchBuffer int
	// MaxWatchers bounds the watchers at a time (default
	// DefaultMaxWatchers): each holds a buffer of WatchBuffer packets, and
	// every packet of the node is handed to each of them.
	MaxWatchers int
	// ActionsRetention is how long every action of ActionsFile (a kill
	// sent, a cap set) is kept, whatever their number (default
	// DefaultActionsRetention).
	ActionsRetention time.Duration
	// MaxActionsPerMinute bounds the kills and cap changes of one admin
	// slice (default DefaultMaxActionsPerMinute; root is not bounded), and
	// so what ActionsFile must keep.
	MaxActionsPerMinute int
	// Log receives a record of every action.
	Log *slog.Logger
}

// DefaultMaxWatchers is Config.MaxWatchers's default.
const DefaultMaxWatchers = 8

// Service is the admin service.
type Service struct {
	cfg      Config
	actions  *actionLog    // ActionsFile: what changed the node
	calls    *actionLog    // CallsFile: every other call, within limiter
	limiter  *callLimiter  // CallLogEvery per caller and op
	budget   *actionBudget // MaxActionsPerMinute per admin slice
	now      func() time.Time
	watchers chan struct{} // a token per watcher: the semaphore MaxWatchers bounds
}

// New returns the service of cfg; its action log is opened lazily.
func New(cfg Config) (*Service, error) {
	if cfg.Authorize == nil || cfg.StateDir == "" || cfg.Log == nil {
		return nil, errors.New("admin service: Authorize, StateDir and Log are required")
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Self == 0 {
		cfg.Self = os.Getpid()
	}
	if cfg.WatchBuffer <= 0 {
		cfg.WatchBuffer = 4096
	}
	if cfg.MaxWatchers <= 0 {
		cfg.MaxWatchers = DefaultMaxWatchers
	}
	if cfg.ActionsRetention <= 0 {
		cfg.ActionsRetention = DefaultActionsRetention
	}
	if cfg.MaxActionsPerMinute <= 0 {
		cfg.MaxActionsPerMinute = DefaultMaxActionsPerMinute
	}
	actions := newActionLog(filepath.Join(cfg.StateDir, ActionsFile))
	actions.keep = cfg.ActionsRetention
	actions.prune(time.Now()) // a retention shortened since the last run
	return &Service{cfg: cfg, actions: actions,
		calls: newActionLog(filepath.Join(cfg.StateDir, CallsFile)), limiter: newCallLimiter(CallLogEvery),
		budget: newActionBudget(cfg.MaxActionsPerMinute),
		now:    time.Now, watchers: make(chan struct{}, cfg.MaxWatchers)}, nil
}

// Listen creates the service's socket at path, mode 0666 in a directory
// of root's (0755): anyone who can reach the file may connect, and each
// call is authorized by its peer's credentials. Only admin slivers should
// reach it, through the sandbox's mount of that directory: the node keeps
// it under a state directory that is root's alone (0700). It replaces a
// stale socket and refuses to replace anything else.
func Listen(path string) (net.Listener, error) {
	l, err := httpserve.ListenUnix(path, 0o666)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return l, nil
}

// Bounds on the connections Serve holds: how long one may wait to send a
// request's header, and then sit idle between requests, and how many one
// caller (a slice, or a host UID in none; root is not bounded) may hold
// at a time. The socket is 0666: without them any caller that reaches it
// could hold connections without end. A watch is one request, however
// long it streams.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxConnsPerCaller = 32
)

// Serve answers calls on l until ctx ends, then closes l and every
// connection (watchers included). A caller holding MaxConnsPerCaller
// connections has further ones closed at accept.
func (s *Service) Serve(ctx context.Context, l net.Listener) error {
	srv := &peercred.Server{Handler: s.handler(), Context: withPeer, Key: s.connKey, MaxConns: MaxConnsPerCaller,
		ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout, Log: s.cfg.Log}
	fctx, cancel := context.WithCancel(ctx)
	flushed := make(chan struct{})
	go func() { defer close(flushed); s.flushLoop(fctx) }()
	defer func() { cancel(); <-flushed }()
	if err := srv.Serve(ctx, l); err != nil {
		return fmt.Errorf("admin service: %w", err)
	}
	return nil
}
