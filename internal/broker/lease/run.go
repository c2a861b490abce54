package lease

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/orbisproject/orbis/internal/peercred"
)

// Config is what Run needs.
type Config struct {
	// Listen is the TCP address of the API (":61080").
	Listen string
	// Dir holds the book.
	Dir string
	// Slot is the slot length (one hour on a real broker).
	Slot time.Duration
	// NM is the node manager, as the broker's sliver reaches it.
	NM NodeManager
	// MaxConnsPerClient bounds the connections one client holds at a
	// time (0: DefaultMaxConnsPerClient), MaxConns all clients' together
	// (0: DefaultMaxConns); further ones are closed at accept. A client is
	// a remote address (an IPv6 /64), or a local user; inside the
	// broker's sliver the kernel shows every other slice's user as one
	// (the overflow UID), so local clients of other slices share a bound.
	MaxConnsPerClient, MaxConns int
	Log                         *slog.Logger
}

// Defaults of Config.MaxConnsPerClient and Config.MaxConns.
const (
	DefaultMaxConnsPerClient = 16
	DefaultMaxConns          = 512
)

// DefaultListen is where `orbis-lease serve` listens by default: a port
// above the kernel's ephemeral range (32768-60999), so no client socket
// can take it first; central's tag ports=tcp/61080 reserves it to the
// broker's slice.
const DefaultListen = ":61080"

// Run serves the broker until ctx is done: the book, its agent and the
// HTTP API.
func Run(ctx context.Context, cfg Config) error {
	book, err := OpenBook(cfg.Dir, cfg.Slot, cfg.Log)
	if err != nil {
		return err
	}
	op, err := LoadOperatorSecret(cfg.Dir)
	if err != nil {
		return err
	}
	tl, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	l := limitConns(tl, cfg)
	agent := NewAgent(book, cfg.NM, cfg.Log)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		agent.Run(ctx)
	}()
	cfg.Log.Info("lease broker serving", "addr", l.Addr().String(), "book", cfg.Dir, "slot", cfg.Slot,
		"operator_secret", filepath.Join(cfg.Dir, OperatorFile))
	srv := &Server{Book: book, Cap: agent, Log: cfg.Log, OperatorHash: hashToken(op)}
	err = srv.Serve(ctx, l)
	cancel()
	<-done
	return err
}

// limitConns bounds the connections of l per client and in all
// (Config.MaxConnsPerClient, Config.MaxConns): without it one client's
// idle connections take every file descriptor the broker's sliver has.
func limitConns(l net.Listener, cfg Config) net.Listener {
	return &peercred.Limited{Listener: l, Max: cmp.Or(cfg.MaxConnsPerClient, DefaultMaxConnsPerClient),
		Total: cmp.Or(cfg.MaxConns, DefaultMaxConns), Log: cfg.Log}
}
