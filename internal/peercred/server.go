package peercred

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/orbisproject/orbis/internal/httpserve"
)

// Server answers HTTP on a Unix socket whose every call is authorized by
// its caller's credentials, as the kernel vouches for them: each
// connection's context carries its peer's (Context), and no caller holds
// more than MaxConns connections at a time (Limited). The node manager's
// API and the admin service are served so.
type Server struct {
	// Handler answers the calls.
	Handler http.Handler
	// Context derives a connection's context from its peer's credentials;
	// ok is false when they could not be read, and the handler must then
	// refuse every call on it.
	Context func(ctx context.Context, c Cred, ok bool) context.Context
	// Key names whom a connection counts against (Limited.Key).
	Key func(Cred) string
	// MaxConns bounds the connections of one key (Limited.Max).
	MaxConns int
	// ReadHeaderTimeout bounds the wait for a request's header;
	// IdleTimeout, a connection's idle time between requests: a caller
	// cannot hold a connection by sending nothing.
	ReadHeaderTimeout, IdleTimeout time.Duration
	// Grace is how long calls in progress may finish when ctx ends; 0
	// closes every connection then, and ends every call's context with
	// ctx (for calls that stream without end).
	Grace time.Duration
	// Log receives the HTTP server's errors and the connections refused.
	Log *slog.Logger
}

// Serve answers calls on l until ctx ends (then it returns nil once the
// calls are finished or closed), or returns the error that stopped it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler: s.Handler,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			cred, err := Of(c)
			return s.Context(ctx, cred, err == nil)
		},
		ReadHeaderTimeout: s.ReadHeaderTimeout,
		IdleTimeout:       s.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	if s.Grace <= 0 {
		srv.BaseContext = func(net.Listener) context.Context { return ctx }
	}
	ll := &Limited{Listener: l, Max: s.MaxConns, Key: s.Key, Log: s.Log}
	return httpserve.Serve(ctx, srv, ll, s.Grace)
}
