package lease

import (
	"cmp"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/orbisproject/orbis/internal/peercred"
	"github.com/orbisproject/orbis/internal/pki"
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
	// SANs are the host names and addresses of the broker's certificate,
	// besides the listen address (every address of the node when it
	// listens on all).
	SANs []string
	// InsecureHTTP serves plain HTTP instead of HTTPS: credentials and
	// tokens then cross the network in clear.
	InsecureHTTP bool
	// MaxConnsPerClient bounds the connections one client holds at a
	// time (0: DefaultMaxConnsPerClient), MaxConns all clients' together
	// (0: DefaultMaxConns); further ones are closed at accept. A client is
	// a remote address (an IPv6 /64), or a local user; inside the
	// broker's sliver the kernel shows every other slice's user as one
	// (the overflow UID), so local clients of other slices share a bound.
	MaxConnsPerClient, MaxConns int
	Log                         *slog.Logger
}

// TLSDir is where the broker keeps its CA and certificate, in its book
// directory.
func TLSDir(dir string) string { return filepath.Join(dir, "tls") }

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
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return RunOn(ctx, cfg, l)
}

// RunOn is Run on a listener of the caller's, which it closes.
func RunOn(ctx context.Context, cfg Config, l net.Listener) error {
	book, err := OpenBook(cfg.Dir, cfg.Slot, cfg.Log)
	if err != nil {
		l.Close()
		return err
	}
	op, err := LoadOperatorSecret(cfg.Dir)
	if err != nil {
		l.Close()
		return err
	}
	if l, err = cfg.listenTLS(limitConns(l, cfg)); err != nil {
		return err
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

// listenTLS wraps l in TLS with the broker's own CA, made on first start
// in its book directory, and prints the URL buyers pin it by.
func (cfg *Config) listenTLS(l net.Listener) (net.Listener, error) {
	if cfg.InsecureHTTP {
		cfg.Log.Warn("lease broker serves plain HTTP: credentials and tokens cross the network in clear")
		return l, nil
	}
	srv, err := pki.Open(pki.Config{Dir: TLSDir(cfg.Dir), Name: "Orbis lease broker CA",
		SANs: pki.SANs(l.Addr().String(), cfg.SANs), Log: cfg.Log})
	if err != nil {
		l.Close()
		return nil, err
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	cfg.Log.Info("lease broker's CA: buyers pin it in the broker's URL", "ca_hash", srv.CAHash(), "ca_file", srv.CAFile,
		"url", "https://HOST:"+port+"#"+srv.CAHash())
	return tls.NewListener(l, srv.TLSConfig()), nil
}

// limitConns bounds the connections of l per client and in all
// (Config.MaxConnsPerClient, Config.MaxConns): without it one client's
// idle connections take every file descriptor the broker's sliver has.
func limitConns(l net.Listener, cfg Config) net.Listener {
	return &peercred.Limited{Listener: l, Max: cmp.Or(cfg.MaxConnsPerClient, DefaultMaxConnsPerClient),
		Total: cmp.Or(cfg.MaxConns, DefaultMaxConns), Log: cfg.Log}
}
