// Package jsonapi serves central's method table (plc.Registry) as a JSON
// API at /api/v1/, for the orbis CLI and the web pages: the same methods
// and records as PLCAPI (../xmlrpc), with API tokens instead of an auth
// struct. Both are codecs of plc.Dispatch: this one decodes JSON and the
// bearer token, and answers a fault with the HTTP status of statusOf.
//
//	POST /api/v1/<Method>   body: a JSON array of the arguments after auth
//	                        (empty body: none); Authorization: Bearer <token>
//	                        (none: the anonymous caller)
//	POST /api/v1/login      body: {"username": ..., "password": ...}
//	POST /api/v1/logout     revokes the bearer token (empty body)
//	GET  /api/v1/           the methods, with help, roles and argument counts
//	GET  /api/v1/<Method>   one method
//
// A success is 200 {"result": ...}; an error is {"error": {"code": <PLCAPI
// fault code>, "message": "..."}} with the HTTP status of statusOf.
package jsonapi

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// MaxBodySize is the largest request body accepted, in bytes.
const MaxBodySize = plc.MaxBodySize

// TokenAuthenticator checks API tokens and makes them. The core
// implements it. Bad credentials must be a *plc.Fault with code 103;
// another error is an internal error. The client's address is
// plc.ClientAddr(ctx), for rate limits.
type TokenAuthenticator interface {
	// AuthenticateToken returns who holds token.
	AuthenticateToken(ctx context.Context, token string) (*plc.Caller, error)
	// Login checks a person's password and returns a new API token.
	Login(ctx context.Context, username, password string) (token string, err error)
	// Logout revokes token.
	Logout(ctx context.Context, token string) error
}

// handler serves /api/v1/.
type handler struct {
	reg  *plc.Registry
	auth TokenAuthenticator
	log  *slog.Logger
}

// New returns the /api/v1/ handler serving reg's methods. It may be
// mounted with or without http.StripPrefix.
func New(reg *plc.Registry, auth TokenAuthenticator, log *slog.Logger) http.Handler {
	return &handler{reg: reg, auth: auth, log: log}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Path
	if i := strings.Index(name, "/api/v1/"); i >= 0 {
		name = name[i+len("/api/v1/"):]
	}
	name = strings.Trim(name, "/")
	ctx := plc.WithRequestAddr(r)
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		h.describe(w, name)
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, http.StatusMethodNotAllowed, plc.Faultf(plc.FaultInvalidMethod, "use POST to call a method, GET to read its description"))
	case name == "login":
		h.login(ctx, w, r)
	case name == "logout":
		h.logout(ctx, w, r)
	default:
		h.call(ctx, w, r, name)
	}
}

// call runs one method.
func (h *handler) call(ctx context.Context, w http.ResponseWriter, r *http.Request, name string) {
	start := time.Now()
	args, status, f := readArgs(w, r)
	if f != nil {
		writeError(w, status, f)
		return
	}
	token, status, f := bearer(r)
	if f != nil {
		writeError(w, status, f)
		return
	}
	result, ce := h.reg.Dispatch(ctx, h.log, plc.Call{Method: name, Args: args,
		Authenticate: func(ctx context.Context) (*plc.Caller, error) { return h.caller(ctx, token) }})
	if ce != nil {
		status, f := answer(ce)
		h.log.Info("call", "method", name, "client", plc.ClientAddr(ctx), "status", status, "fault", f.Code, "fault_msg", f.Msg, "took", time.Since(start))
		writeError(w, status, f)
		return
	}
	h.writeResult(w, name, result)
	h.log.Debug("call", "method", name, "client", plc.ClientAddr(ctx), "took", time.Since(start))
}

// answer is the HTTP status and fault of a failed call. An unknown method
// is 404; an anonymous caller refused is told to authenticate (401),
// anyone else is refused (403).
func answer(ce *plc.CallError) (int, *plc.Fault) {
	switch ce.Step {
	case plc.StepFind:
		return http.StatusNotFound, plc.Faultf(plc.FaultInvalidMethod, "unknown method %q; GET /api/v1/ lists the methods", ce.Method)
	case plc.StepArgs:
		return http.StatusBadRequest, ce.Fault
	case plc.StepRoles:
		if ce.Caller.Anonymous {
			return http.StatusUnauthorized, plc.Faultf(plc.FaultAuth, "%s needs authentication: send Authorization: Bearer <token> (orbis login, or POST /api/v1/login)", ce.Method)
		}
		return http.StatusForbidden, ce.Fault
	}
	return statusOf(ce.Fault, ce.Err), ce.Fault
}

// caller authenticates a bearer token; none ("") is the anonymous caller.
func (h *handler) caller(ctx context.Context, token string) (*plc.Caller, error) {
	if token == "" {
		return &plc.Caller{Anonymous: true}, nil
	}
	return h.auth.AuthenticateToken(ctx, token)
}

// bearer returns the request's bearer token, "" if it has no
// Authorization header.
func bearer(r *http.Request) (string, int, *plc.Fault) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return "", 0, nil
	}
	scheme, token, ok := strings.Cut(hdr, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", http.StatusUnauthorized, plc.Faultf(plc.FaultAuth, "the Authorization header must be \"Bearer <token>\"")
	}
	return token, 0, nil
}

// logout revokes the bearer token and answers {"result": 1}.
func (h *handler) logout(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	token, status, f := bearer(r)
	if f == nil && token == "" {
		status, f = http.StatusUnauthorized, plc.Faultf(plc.FaultAuth, "logout revokes the token sent as Authorization: Bearer <token>")
	}
	if f != nil {
		writeError(w, status, f)
		return
	}
	if err := h.auth.Logout(ctx, token); err != nil {
		f := plc.AsFault(h.log, "logout", err)
		writeError(w, statusOf(f, err), f)
		return
	}
	h.writeResult(w, "logout", 1)
}

// loginRequest is the body of POST /api/v1/login.
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// login checks a password and answers {"result": {"token": ...}}.
func (h *handler) login(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if status, f := readObject(w, r, &req); f != nil {
		writeError(w, status, f)
		return
	}
	if req.Username == "" || req.Password == "" {
		writeError(w, http.StatusBadRequest, plc.Faultf(plc.FaultInvalidArg, "login takes {\"username\": <email>, \"password\": <password>}"))
		return
	}
	token, err := h.auth.Login(ctx, req.Username, req.Password)
	if err != nil {
		f := plc.AsFault(h.log, "login", err)
		h.log.Info("login failed", "user", req.Username, "client", plc.ClientAddr(ctx), "fault", f.Code)
		writeError(w, statusOf(f, err), f)
		return
	}
	h.writeResult(w, "login", map[string]string{"token": token})
}

// methodInfo describes a method for GET.
type methodInfo struct {
	Name      string   `json:"name"`
	Help      string   `json:"help"`
	Signature []string `json:"signature"`
	Roles     []string `json:"roles"`
	MinArgs   int      `json:"min_args"`
	MaxArgs   int      `json:"max_args"`
}

func info(m *plc.Method) methodInfo {
	return methodInfo{Name: m.Name, Help: m.Help, Signature: m.Signature, Roles: m.Roles, MinArgs: m.MinArgs, MaxArgs: m.MaxArgs}
}

// describe answers GET: every method, or the one named.
func (h *handler) describe(w http.ResponseWriter, name string) {
	if name == "" {
		list := []methodInfo{}
		for _, n := range h.reg.Names() {
			list = append(list, info(h.reg.Lookup(n)))
		}
		h.writeResult(w, "", list)
		return
	}
	m := h.reg.Lookup(name)
	if m == nil {
		writeError(w, http.StatusNotFound, plc.Faultf(plc.FaultInvalidMethod, "unknown method %q; GET /api/v1/ lists the methods", name))
		return
	}
	h.writeResult(w, name, info(m))
}
