package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/shaping"
)

// callError is an error with the HTTP status the client gets.
type callError struct {
	status int
	msg    string
}

func (e *callError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) error {
	return &callError{status: status, msg: fmt.Sprintf(format, args...)}
}

// handler routes the service's calls, each behind authorize.
func (s *Service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ps", s.authorized("ps", func(r *http.Request, c Caller) (any, string, error) {
		ps, err := s.PS(c)
		return ps, fmt.Sprintf("%d processes", len(ps.Processes)), err
	}))
	mux.HandleFunc("POST /v1/kill", s.authorized("kill", s.handleKill))
	mux.HandleFunc("GET /v1/bwcap", s.authorized("bwcap", func(r *http.Request, c Caller) (any, string, error) {
		b, err := s.Bwcap()
		return b, "shown", err
	}))
	mux.HandleFunc("POST /v1/bwcap", s.authorized("bwcap set", s.handleSetBwcap))
	mux.HandleFunc("GET /v1/watch", s.handleWatch)
	return mux
}

// op answers one call: the answer, a short note for the action log, or an
// error.
type op func(r *http.Request, c Caller) (answer any, note string, err error)

// authorized wraps fn: only an authorized caller reaches it, and every
// call, refused or not, is logged with its result.
func (s *Service) authorized(name string, fn op) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.caller(r.Context())
		if err != nil {
			s.record(c, name, "", err)
			writeError(w, err)
			return
		}
		answer, note, err := fn(r, c)
		s.record(c, name, note, err)
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(answer)
	}
}

// caller identifies and authorizes the peer of the call.
func (s *Service) caller(ctx context.Context) (Caller, error) {
	c, ok := callerFromContext(ctx)
	if !ok {
		return c, errorf(http.StatusForbidden, "caller unknown: no peer credentials")
	}
	c.SliverPID = sliverPID(s.cfg.ProcRoot, c.PID)
	if c.HostUID == 0 {
		return c, nil
	}
	slice, isAdmin := s.cfg.Authorize(c.HostUID)
	c.Slice = slice
	c.UID = s.uidInside(c)
	switch {
	case slice == "":
		return c, errorf(http.StatusForbidden, "host UID %d belongs to no slice: the admin service is for admin slices and root", c.HostUID)
	case !isAdmin:
		return c, errorf(http.StatusForbidden, "slice %s does not have the admin privilege", slice)
	}
	return c, nil
}

func (s *Service) handleKill(r *http.Request, c Caller) (any, string, error) {
	var req api.AdminKillRequest
	if err := decode(r, &req); err != nil {
		return nil, "", err
	}
	note := fmt.Sprintf("pid %d signal %s", req.PID, req.Signal)
	if err := s.budget.spend(c, s.now()); err != nil {
		return nil, note, err
	}
	resp, err := s.Kill(c, req)
	if err == nil {
		note = fmt.Sprintf("pid %d (slice %q: %s) signal %s", resp.PID, resp.Slice, resp.Command, resp.Signal)
	}
	return resp, note, err
}

func (s *Service) handleSetBwcap(r *http.Request, c Caller) (any, string, error) {
	var req api.AdminBwcapRequest
	if err := decode(r, &req); err != nil {
		return nil, "", err
	}
	if err := s.budget.spend(c, s.now()); err != nil {
		return nil, "rate " + req.Rate, err
	}
	b, err := s.SetBwcap(req.Rate)
	return b, "rate " + req.Rate, err
}

// Bwcap returns the node's cap: recorded, applied and the policy bound.
func (s *Service) Bwcap() (api.AdminBwcap, error) {
	kbit, ok, err := shaping.ReadCap(s.cfg.StateDir)
	if err != nil {
		return api.AdminBwcap{}, err
	}
	b := api.AdminBwcap{KBit: kbit, Set: ok, DefaultKBit: shaping.DefaultRootRate}
	if !ok {
		b.KBit = shaping.DefaultRootRate
	}
	if s.cfg.AppliedCap != nil {
		b.AppliedKBit = s.cfg.AppliedCap()
	}
	if s.cfg.PolicyCap != nil {
		if p, ok := s.cfg.PolicyCap(); ok {
			b.PolicyKBit = p
		}
	}
	return b, nil
}

// SetBwcap records rate (e.g. "10mbit") as the node's cap, within the
// local policy's bound, and tells the node (Config.CapChanged).
func (s *Service) SetBwcap(rate string) (api.AdminBwcap, error) {
	kbit, err := shaping.ParseRate(rate)
	if err != nil {
		return api.AdminBwcap{}, errorf(http.StatusBadRequest, "%v", err)
	}
	if s.cfg.PolicyCap != nil {
		if p, ok := s.cfg.PolicyCap(); ok && kbit > p {
			return api.AdminBwcap{}, errorf(http.StatusForbidden, "%s is above the node's local policy cap of %s",
				shaping.FormatRate(kbit), shaping.FormatRate(p))
		}
	}
	if err := shaping.WriteCap(s.cfg.StateDir, kbit); err != nil {
		return api.AdminBwcap{}, err
	}
	if s.cfg.CapChanged != nil {
		s.cfg.CapChanged(kbit)
	}
	return s.Bwcap()
}

// decode reads a small JSON request body into v.
func decode(r *http.Request, v any) error {
	d := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "bad request: %v", err)
	}
	return nil
}

// writeError answers err: a callError with its status and message, any
// other error as 500 with a message that names no internals beyond it.
func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ce *callError
	if errors.As(err, &ce) {
		status = ce.status
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(api.AdminError{Error: err.Error()})
}
