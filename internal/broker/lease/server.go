package lease

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/errkind"
	"github.com/orbisproject/orbis/internal/httpserve"
)

// CapacitySource gives the delegation the server admits against: the
// Agent, or a fixed one in tests.
type CapacitySource interface {
	Capacity() (Capacity, string)
	Kick()
}

// A Server answers the broker's HTTP API.
type Server struct {
	Book *Book
	Cap  CapacitySource
	Log  *slog.Logger
	// OperatorHash is the SHA-256 (hex) of the operator's secret, which
	// the account routes ask for; "" refuses them all.
	OperatorHash string
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handler returns the API's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		c, problem := s.Cap.Capacity()
		reply(w, Info{SlotSeconds: s.Book.slot, Now: s.now().Unix(), Capacity: c, Problem: problem}, nil)
	})
	mux.HandleFunc("GET /v1/leases", func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Book.Leases(), nil)
	})
	mux.HandleFunc("GET /v1/schedule", s.schedule)
	mux.HandleFunc("POST /v1/leases", func(w http.ResponseWriter, r *http.Request) {
		cred := bearer(r)
		if _, _, err := parseCredential(cred); err != nil {
			reply(w, nil, err) // before reading the body
			return
		}
		var req ReserveRequest
		if !decode(w, r, &req) {
			return
		}
		c, problem := s.Cap.Capacity()
		if problem != "" {
			reply(w, nil, errorf(ErrUnavailable, "no delegation to lease from: %s", problem))
			return
		}
		resp, err := s.Book.Reserve(cred, req, c, s.now())
		if err == nil {
			s.Cap.Kick() // the window may be open already
		}
		reply(w, resp, err)
	})
	mux.HandleFunc("POST /v1/cancel", func(w http.ResponseWriter, r *http.Request) {
		var req CancelRequest
		if !decode(w, r, &req) {
			return
		}
		l, err := s.Book.Cancel(req, s.now())
		if err == nil {
			s.Cap.Kick()
		}
		reply(w, l, err)
	})
	mux.HandleFunc("GET /v1/account", func(w http.ResponseWriter, r *http.Request) {
		a, err := s.Book.AccountOf(bearer(r))
		reply(w, a, err)
	})
	mux.HandleFunc("GET /v1/accounts", s.operator(func(w http.ResponseWriter, r *http.Request) {
		reply(w, s.Book.Accounts(), nil)
	}))
	mux.HandleFunc("POST /v1/accounts", s.operator(func(w http.ResponseWriter, r *http.Request) {
		var req GrantRequest
		if !decode(w, r, &req) {
			return
		}
		resp, err := s.Book.Grant(req, s.now())
		reply(w, resp, err)
	}))
	return mux
}

// operator lets through requests that carry the operator's secret.
func (s *Server) operator(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		secret := bearer(r)
		switch {
		case s.OperatorHash == "":
			reply(w, nil, errorf(ErrDenied, "this broker takes no operator requests"))
		case secret == "" || !sameHash(s.OperatorHash, hashToken(secret)):
			s.Log.Warn("operator request refused", "path", r.URL.Path, "remote", r.RemoteAddr)
			reply(w, nil, errorf(ErrUnauthorized, "operator secret missing or wrong (the broker keeps it in %s in its book directory)", OperatorFile))
		default:
			h(w, r)
		}
	}
}

// bearer is the request's "Authorization: Bearer" secret, or "".
func bearer(r *http.Request) string {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

func (s *Server) schedule(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, n := s.now().Unix(), 24
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from > api.MaxTime {
			reply(w, nil, errorf(ErrInvalid, "from: %q is not a Unix time", v))
			return
		}
	}
	if v := q.Get("slots"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			reply(w, nil, errorf(ErrInvalid, "slots: %q is not a number", v))
			return
		}
	}
	out, err := s.Book.Schedule(from, n)
	reply(w, out, err)
}

// decode reads one JSON object of a known shape, or answers 400 or 413
// saying what is wrong with it.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON object")
	}
	if err == nil {
		if _, rerr := io.Copy(io.Discard, body); rerr != nil {
			err = rerr
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxBody))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "malformed request: "+strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, errkind.Status(err), err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="orbis-lease"`)
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(Error{Error: msg})
}

// Serve answers the API on l until ctx is done.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.Log.Handler(), slog.LevelWarn),
	}
	return httpserve.Serve(ctx, srv, l, 5*time.Second)
}
