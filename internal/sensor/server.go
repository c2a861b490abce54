package sensor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/peercred"
)

// DefaultAddr is where a node serves its sensors: the paper's port, on
// loopback, which slivers share with the node.
const DefaultAddr = "127.0.0.1:33080"

// Defaults of Config's bounds.
const (
	DefaultSampleInterval = 5 * time.Second
	DefaultHistory        = 15 * time.Minute
	DefaultMaxSlices      = 1024
	DefaultMaxStreams     = 64
	DefaultMaxConns       = 1024
	// DefaultMaxConnsPerClient and DefaultMaxStreamsPerClient bound each
	// client (a slice, a host user, a remote address).
	DefaultMaxConnsPerClient   = 16
	DefaultMaxStreamsPerClient = 4
	DefaultNodesMaxAge         = 5 * time.Minute
	DefaultWriteTimeout        = 10 * time.Second
)

// Fixed bounds of a request.
const (
	maxHeaderBytes    = 8 << 10
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 30 * time.Second
	fetchTimeout      = 20 * time.Second
)

// Config configures a Server. Every source may be nil: its sensors then
// answer 404 "not available on this node".
type Config struct {
	// ProcRoot is where /proc is mounted ("/proc" if empty).
	ProcRoot string
	// Slices measures the slices, for /slices, /bandwidth and /metrics.
	Slices SliceSource
	// Nodes lists the system's nodes, for /nodes.
	Nodes NodeSource
	// Ports lists the owners of the node's ports, for /ports.
	Ports PortSource
	// Connects delivers the slices' connect calls, for /connects.
	Connects Events
	// SampleInterval is how often Slices is sampled (DefaultSampleInterval).
	SampleInterval time.Duration
	// History is how much of the samples is kept (DefaultHistory).
	History time.Duration
	// MaxSlices bounds the slices kept (DefaultMaxSlices).
	MaxSlices int
	// MaxStreams bounds the streams served at once (DefaultMaxStreams),
	// and MaxStreamsPerClient those of one client
	// (DefaultMaxStreamsPerClient); more get 503.
	MaxStreams, MaxStreamsPerClient int
	// MaxConns bounds the open connections (DefaultMaxConns), and
	// MaxConnsPerClient those of one client (DefaultMaxConnsPerClient);
	// more are closed as soon as they are accepted. A stream holds its
	// connection. Root's connections count against neither.
	MaxConns, MaxConnsPerClient int
	// SliceOfUID names the slice of a host UID, so that a slice's UIDs
	// are one client; nil: each UID is one.
	SliceOfUID func(uid uint32) (string, bool)
	// NodesMaxAge is how old a cached node list may be when the request
	// asks for no max-age (DefaultNodesMaxAge).
	NodesMaxAge time.Duration
	// WriteTimeout bounds each write to a client (DefaultWriteTimeout),
	// so a client that stops reading loses its connection.
	WriteTimeout time.Duration
	// Log receives the server's records.
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	setDefault(&c.SampleInterval, DefaultSampleInterval)
	setDefault(&c.History, DefaultHistory)
	setDefault(&c.MaxSlices, DefaultMaxSlices)
	setDefault(&c.MaxStreams, DefaultMaxStreams)
	setDefault(&c.MaxStreamsPerClient, DefaultMaxStreamsPerClient)
	setDefault(&c.MaxConns, DefaultMaxConns)
	setDefault(&c.MaxConnsPerClient, DefaultMaxConnsPerClient)
	setDefault(&c.NodesMaxAge, DefaultNodesMaxAge)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

func setDefault[T int | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// Server is a sensor server. Its sensors are listed by New's table
// (sensors.go) and served by ServeHTTP; Serve also runs the samplers that
// feed them.
type Server struct {
	cfg      Config
	log      *slog.Logger
	sensors  map[string]*sensor
	order    []*sensor
	hist     *history
	loads    *loadRing // the load average, for the page's plot
	connects *eventRing
	nodes    *cache[[]Node]
	streams  *streamSlots
}

// New returns a server of cfg's sources. It starts nothing: see Serve.
func New(cfg Config) *Server {
	cfg.defaults()
	s := &Server{
		cfg:      cfg,
		log:      cfg.Log,
		hist:     newHistory(cfg.SampleInterval, cfg.History, cfg.MaxSlices),
		loads:    newLoadRing(loadInterval, cfg.History),
		connects: newEventRing(connectRing),
		streams:  newStreamSlots(cfg.MaxStreams, cfg.MaxStreamsPerClient),
	}
	if cfg.Nodes != nil {
		s.nodes = newCache(cfg.Nodes.Nodes, fetchTimeout)
	}
	s.register()
	return s
}

// ListenAndServe listens on addr and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("sensor server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve samples the sources and serves HTTP on ln until ctx is done; then
// it ends every stream, closes ln and returns once every goroutine it
// started is done.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if s.cfg.Slices != nil {
		wg.Go(func() { s.sampleLoop(ctx) })
	}
	wg.Go(func() { s.loadLoop(ctx) })
	if s.cfg.Connects != nil {
		wg.Go(func() { s.pumpConnects(ctx) })
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnContext:       withClient,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	wg.Go(func() {
		<-ctx.Done()
		sctx, stop := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer stop()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	})
	err := hs.Serve(&peercred.Limited{Listener: ln, Max: s.cfg.MaxConnsPerClient, Total: s.cfg.MaxConns,
		Key: peercred.SliceKey(s.cfg.SliceOfUID), Log: s.log})
	cancel()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("sensor server: %w", err)
}

// sampleLoop samples the slices now and at every interval until ctx is
// done. A failing source is logged when its error changes.
func (s *Server) sampleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SampleInterval)
	defer t.Stop()
	var lastErr string
	lastDropped := 0
	for {
		sctx, cancel := context.WithTimeout(ctx, s.cfg.SampleInterval)
		samples, err := s.cfg.Slices.Slices(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && err.Error() != lastErr:
			s.log.Warn("sample slices", "err", err)
			lastErr = err.Error()
		case err == nil:
			s.hist.add(time.Now(), samples)
			kept, dropped := s.hist.counts()
			if dropped > 0 && lastDropped == 0 {
				s.log.Warn("too many slices to keep", "kept", kept, "dropped", dropped)
			}
			lastErr, lastDropped = "", dropped
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pumpConnects keeps the connect calls of Connects until ctx is done.
func (s *Server) pumpConnects(ctx context.Context) {
	ch, err := s.cfg.Connects.Subscribe(ctx)
	if err != nil {
		s.log.Error("subscribe to connect calls", "err", err)
		return
	}
	for ev := range ch {
		s.connects.add(ev)
	}
}
