package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"time"

	"github.com/orbisproject/orbis/api"
)

// ErrDenied is what a Source wraps when a node or registration token is
// unknown (or the token has expired or been used): the request is refused
// with 401, not reported as central's own failure.
var ErrDenied = errors.New("denied")

// Source is what the node channel needs of central's core and store.
type Source interface {
	VersionSource
	// NodeSlivers returns the node's sliver list (GetSlivers), with its
	// version.
	NodeSlivers(ctx context.Context, nodeID int64) (api.Slivers, error)
	// ReportSlivers records the node's reports and its last contact.
	ReportSlivers(ctx context.Context, nodeID int64, reports []api.SliverReport) error
	// NodeSecret returns the node's HMAC key; an error wrapping ErrDenied
	// if there is no such node.
	NodeSecret(ctx context.Context, nodeID int64) (string, error)
	// RegisterNode uses the one-time token and returns the node's id and
	// a new secret; an error wrapping ErrDenied for a bad token.
	RegisterNode(ctx context.Context, token, hostname, ip, version string) (int64, string, error)
}

// Body limits of the node channel's requests.
const (
	MaxReportBody   = 1 << 20
	MaxRegisterBody = 4 << 10
	maxSliversBody  = 0
)

// LongPoll is how long a slivers request waits for a change before it
// answers with the current list anyway, short enough that proxies and
// load balancers keep the connection. The server's WriteTimeout must be
// longer.
const LongPoll = 25 * time.Second

// Options configure a Handler.
type Options struct {
	// LongPoll overrides LongPoll (tests).
	LongPoll time.Duration
	// Now tells the time for the replay window; nil means time.Now.
	Now func() time.Time
	// Log receives refused requests and central's own failures; nil
	// discards.
	Log *slog.Logger
}

// Handler serves the node channel, mounted at api.NodePath: GET slivers,
// POST report, POST register (see package api for the contract). It routes
// on the last element of the path, so it works with or without
// http.StripPrefix.
type Handler struct {
	src      Source
	hub      *Hub
	log      *slog.Logger
	now      func() time.Time
	longPoll time.Duration
	nonces   *nonceCache
	limiter  *failLimiter
}

// NewHandler returns the node channel's handler over src, waiting on hub.
func NewHandler(src Source, hub *Hub, opts Options) *Handler {
	if opts.LongPoll <= 0 {
		opts.LongPoll = LongPoll
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		src:      src,
		hub:      hub,
		log:      opts.Log,
		now:      opts.Now,
		longPoll: opts.LongPoll,
		nonces:   newNonceCache(),
		limiter:  newFailLimiter(registerFailures, registerWindow),
	}
}

// httpError is a refusal with a status and a message for the node's
// operator.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// ServeHTTP routes a node request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch op := path.Base(r.URL.Path); {
	case op == "slivers" && r.Method == http.MethodGet:
		err = h.slivers(w, r)
	case op == "report" && r.Method == http.MethodPost:
		err = h.report(w, r)
	case op == "register" && r.Method == http.MethodPost:
		err = h.register(w, r)
	case op == "traffic":
		err = h.traffic(w, r)
	case op == "summary":
		err = h.summary(w, r)
	case op == "slivers" || op == "report" || op == "register":
		err = errorf(http.StatusMethodNotAllowed, "%s: method %s not allowed", op, r.Method)
	default:
		err = errorf(http.StatusNotFound, "no node call %s (want slivers, report or register)", op)
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

// fail answers err: an httpError as it is, anything else as 503 without
// internals (the node retries).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		h.log.Error("node request", "path", r.URL.Path, "node", r.Header.Get(api.NodeHeaderID), "err", err)
		he = errorf(http.StatusServiceUnavailable, "central cannot answer now; retry later")
	} else if he.status != http.StatusNotFound {
		h.log.Warn("node request refused", "path", r.URL.Path, "node", r.Header.Get(api.NodeHeaderID),
			"remote", r.RemoteAddr, "status", he.status, "reason", he.msg)
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// slivers answers the node's list once its version differs from since,
// or after the long-poll period with the current list anyway.
func (h *Handler) slivers(w http.ResponseWriter, r *http.Request) error {
	node, _, err := h.authenticate(w, r, maxSliversBody)
	if err != nil {
		return err
	}
	since, wait, err := parseSince(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if wait {
		changed, err := h.waitChange(ctx, node, since)
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil // the node went away
		}
		if !changed {
			// Nothing new in the whole period: say so, without
			// computing the list again.
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}
	list, err := h.src.NodeSlivers(ctx, node)
	if err != nil {
		return fmt.Errorf("node %d slivers: %w", node, err)
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// waitChange waits until the node's list version differs from since, for
// at most the long-poll period, and reports whether it did. Nothing is
// held while it waits but the waiter.
func (h *Handler) waitChange(ctx context.Context, node, since int64) (bool, error) {
	v, err := h.src.Versions(ctx, []int64{node})
	if err != nil {
		return false, fmt.Errorf("node %d version: %w", node, err)
	}
	if v[node] != since {
		return true, nil
	}
	pctx, cancel := context.WithTimeout(ctx, h.longPoll)
	defer cancel()
	_, err = h.hub.Wait(pctx, node, since)
	// An error: the period ended, the node went away, or a newer request
	// of the node replaced this one (it answers as if nothing changed).
	return err == nil, nil
}

func parseSince(r *http.Request) (since int64, wait bool, err error) {
	s := r.URL.Query().Get("since")
	if s == "" {
		return 0, false, nil
	}
	since, perr := strconv.ParseInt(s, 10, 64)
	if perr != nil || since < 0 {
		return 0, false, errorf(http.StatusBadRequest, "since=%q: want a list version (a non-negative integer)", s)
	}
	return since, true, nil
}

// report records the node's sliver reports.
func (h *Handler) report(w http.ResponseWriter, r *http.Request) error {
	node, body, err := h.authenticate(w, r, MaxReportBody)
	if err != nil {
		return err
	}
	var reports []api.SliverReport
	if err := decodeStrict(body, &reports); err != nil {
		return err
	}
	if err := h.src.ReportSlivers(r.Context(), node, reports); err != nil {
		return fmt.Errorf("node %d report: %w", node, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// register trades a one-time token for the node's id and secret. Failed
// tokens are rate-limited per client address.
func (h *Handler) register(w http.ResponseWriter, r *http.Request) error {
	client := clientIP(r)
	if wait, ok := h.limiter.allow(client, h.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		return errorf(http.StatusTooManyRequests, "too many failed registrations from %s; retry in %s", client, wait.Round(time.Second))
	}
	body, err := readBody(w, r, MaxRegisterBody)
	if err != nil {
		return err
	}
	var req api.NodeRegisterRequest
	if err := decodeStrict(body, &req); err != nil {
		return err
	}
	if err := checkRegister(&req, client); err != nil {
		return err
	}
	id, secret, err := h.src.RegisterNode(r.Context(), req.Token, req.Hostname, req.IP, req.Version)
	if errors.Is(err, ErrDenied) {
		h.limiter.fail(client, h.now())
		return errorf(http.StatusUnauthorized, "registration token refused: unknown, used or expired (ask for a new one with `orbis node add`)")
	}
	if err != nil {
		return fmt.Errorf("register node %s: %w", req.Hostname, err)
	}
	h.log.Info("node registered", "node", id, "hostname", req.Hostname, "ip", req.IP, "version", req.Version)
	writeJSON(w, http.StatusOK, api.NodeRegisterResponse{NodeID: id, Secret: secret})
	return nil
}

func checkRegister(req *api.NodeRegisterRequest, client string) error {
	switch {
	case req.Token == "" || len(req.Token) > 256:
		return errorf(http.StatusBadRequest, "register: token missing or over 256 characters")
	case req.Hostname == "" || len(req.Hostname) > 255:
		return errorf(http.StatusBadRequest, "register: hostname missing or over 255 characters")
	case len(req.Version) > 64:
		return errorf(http.StatusBadRequest, "register: version over 64 characters")
	}
	if req.IP == "" {
		req.IP = client
	}
	if net.ParseIP(req.IP) == nil {
		return errorf(http.StatusBadRequest, "register: ip %q is not an IP address", req.IP)
	}
	return nil
}

// clientIP is the address the request came from, without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
