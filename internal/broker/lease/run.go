package lease

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"
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
	NM  NodeManager
	Log *slog.Logger
}

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
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
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
