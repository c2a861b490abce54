package nodemgr

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/errkind"
	"github.com/orbisproject/orbis/internal/httpserve"
	"github.com/orbisproject/orbis/internal/peercred"
)

// Listen creates the node manager's Unix socket at path, readable and
// writable by root only (mode 0600), replacing a stale socket left by an
// earlier run. It refuses to replace anything that is not a socket.
func Listen(path string) (net.Listener, error) {
	return ListenMode(path, 0o600)
}

// ListenShared creates the node manager's socket for slivers at path, in a
// directory shown to the slivers of privileged slices (/run/orbis-nm):
// anyone who reaches it may connect (mode 0666), and every call is
// authorized by the caller's peer credentials alone. Only slivers should
// reach it, through the sandbox's mount of that directory: the node keeps
// it under a state directory that is root's alone (0700).
func ListenShared(path string) (net.Listener, error) {
	return ListenMode(path, 0o666)
}

// ListenMode is Listen with the socket's mode.
func ListenMode(path string, mode os.FileMode) (net.Listener, error) {
	return httpserve.ListenUnix(path, mode)
}

// Bounds on the connections Serve holds: how long one may wait to send a
// request's header, and then sit idle between requests, and how many one
// caller (a slice, or a host UID in none; root is not bounded) may hold
// at a time on one socket. The shared socket is 0666: without them any
// caller that reaches it could hold connections, and the goroutines and
// buffers behind them, without end.
const (
	ReadHeaderTimeout = 10 * time.Second
	IdleTimeout       = 60 * time.Second
	MaxConnsPerCaller = 32
)

// Serve answers calls on l, HTTP+JSON as package api describes, until ctx
// is done; then it lets calls in progress finish (for up to 10 s). A
// caller holding MaxConnsPerCaller connections has further ones closed at
// accept.
func (m *Manager) Serve(ctx context.Context, l net.Listener) error {
	srv := &peercred.Server{Handler: m.handler(), Context: withPeer, Key: m.connKey, MaxConns: MaxConnsPerCaller,
		ReadHeaderTimeout: ReadHeaderTimeout, IdleTimeout: IdleTimeout, Grace: 10 * time.Second, Log: m.log}
	return srv.Serve(ctx, l)
}

// connKey names whom a connection counts against: the slice whose UID
// range holds the peer's UID, or that UID.
func (m *Manager) connKey(c peercred.Cred) string {
	slice := m.sliceOfUID(c.UID) // the record store's lock only: never waits for an operation
	if slice != "" {
		return slicePrincipal(slice)
	}
	return "uid:" + strconv.FormatUint(uint64(c.UID), 10)
}

func (m *Manager) handler() http.Handler {
	mux := http.NewServeMux()
	post(m, mux, "acquire", func(ctx context.Context, req api.AcquireRequest) (any, error) {
		rc, err := m.Acquire(ctx, req.Rspec)
		return api.AcquireResponse{Rcap: rc}, err
	})
	post(m, mux, "bind", func(ctx context.Context, req api.BindRequest) (any, error) {
		return struct{}{}, m.Bind(ctx, req.Slice, req.Rcap, req.Attrs)
	})
	post(m, mux, "split", func(ctx context.Context, req api.SplitRequest) (any, error) {
		rc, err := m.Split(ctx, req.Rcap, req.Rspec)
		return api.SplitResponse{Rcap: rc}, err
	})
	post(m, mux, "release", func(ctx context.Context, req api.RcapRequest) (any, error) {
		return struct{}{}, m.Release(ctx, req.Rcap)
	})
	post(m, mux, "query", func(ctx context.Context, req api.RcapRequest) (any, error) {
		return m.Query(ctx, req.Rcap)
	})
	post(m, mux, "rcaps", func(ctx context.Context, _ struct{}) (any, error) {
		return m.Rcaps(ctx)
	})
	post(m, mux, "pass", func(ctx context.Context, req api.PassRequest) (any, error) {
		return struct{}{}, m.Pass(ctx, req.Rcap, req.To)
	})
	post(m, mux, "extend", func(ctx context.Context, req api.ExtendRequest) (any, error) {
		return struct{}{}, m.Extend(ctx, req.Rcap, req.End)
	})
	post(m, mux, "amend", func(ctx context.Context, req api.AmendRequest) (any, error) {
		return struct{}{}, m.Amend(ctx, req.Rcap, req.Rspec)
	})
	post(m, mux, "reclaim", func(ctx context.Context, req api.ReclaimRequest) (any, error) {
		return struct{}{}, m.Reclaim(ctx, req.ID)
	})
	post(m, mux, "start", func(ctx context.Context, req api.SliverRequest) (any, error) {
		return struct{}{}, m.StartSliver(ctx, req.Name)
	})
	post(m, mux, "stop", func(ctx context.Context, req api.SliverRequest) (any, error) {
		return struct{}{}, m.StopSliver(ctx, req.Name)
	})
	post(m, mux, "destroy", func(ctx context.Context, req api.SliverRequest) (any, error) {
		return struct{}{}, m.DestroySliver(ctx, req.Name)
	})
	mux.HandleFunc("/v1/list", func(w http.ResponseWriter, r *http.Request) {
		m.answer(w, r, "list", func() (any, error) {
			if r.Method != http.MethodGet {
				return nil, invalidf("list: method %s (want GET)", r.Method)
			}
			return m.List(r.Context())
		})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		m.answer(w, r, "unknown", func() (any, error) {
			return nil, notFoundf("no such call %s %s", r.Method, r.URL.Path)
		})
	})
	return mux
}

// post routes POST /v1/op to fn with the request body decoded strictly.
func post[Req any](m *Manager, mux *http.ServeMux, op string, fn func(context.Context, Req) (any, error)) {
	mux.HandleFunc("/v1/"+op, func(w http.ResponseWriter, r *http.Request) {
		m.answer(w, r, op, func() (any, error) {
			if r.Method != http.MethodPost {
				return nil, invalidf("%s: method %s (want POST)", op, r.Method)
			}
			var req Req
			if err := decode(w, r, &req); err != nil {
				return nil, err
			}
			return fn(r.Context(), req)
		})
	})
}

// answer runs one call, writes its result or error as JSON, and logs it
// with the caller's credentials.
func (m *Manager) answer(w http.ResponseWriter, r *http.Request, op string, fn func() (any, error)) {
	start := time.Now()
	resp, err := fn()
	status := http.StatusOK
	if err != nil {
		status = errkind.Status(err)
		resp = api.NMError{Error: err.Error()}
		if status == http.StatusInternalServerError {
			m.log.Error("call failed", "op", op, "err", err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp)
	peer, _ := PeerFromContext(r.Context())
	m.mu.Lock()
	principal, perr := m.principalOfLocked(r.Context())
	m.mu.Unlock()
	if perr != nil {
		principal = "refused"
	}
	m.log.Info("call", "op", op, "status", status, "principal", principal, "pid", peer.PID, "uid", peer.UID,
		"gid", peer.GID, "dur", time.Since(start))
}

// decode reads exactly one JSON object of at most api.NMMaxBody bytes into
// v, refusing unknown fields, and explains what is wrong if it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, api.NMMaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return decodeError(err)
		}
		return invalidf("request: trailing data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var (
		tooBig *http.MaxBytesError
		syn    *json.SyntaxError
		typ    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooBig):
		return errkind.Errorf(ErrTooLarge, "request: body over %d bytes", tooBig.Limit)
	case errors.Is(err, io.EOF):
		return invalidf("request: empty body (want a JSON object)")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidf("request: malformed JSON: unexpected end of input")
	case errors.As(err, &syn):
		return invalidf("request: malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidf("request: want a JSON object, got %s", typ.Value)
		}
		return invalidf("request: field %s: %s does not fit %s", typ.Field, typ.Value, typ.Type)
	}
	return invalidf("request: %s", strings.TrimPrefix(err.Error(), "json: "))
}
