// Package xmlrpc serves central's method table (plc.Registry) as PLCAPI:
// XML-RPC over HTTP POST at /PLCAPI/, as PlanetLab's clients speak it
// (plcsh, the Python xmlrpclib scripts). It holds a codec written with
// encoding/xml, the HTTP handler with the system.* introspection methods
// and multicall, and a small Go client for tests; the method table's
// dispatch (checks, call, error-to-fault mapping) is plc.Dispatch, which
// the JSON API uses too.
//
// Every request is bounded: the body by MaxBodySize before it is read
// whole, nesting by MaxDepth, a multicall by MaxMulticall. Errors change
// form here, once: a method's *plc.Fault goes to the client as it is, any
// other error becomes fault 111 with a reference, its detail logged.
package xmlrpc

import (
	"context"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// MaxBodySize is the largest request body accepted, in bytes.
const MaxBodySize = plc.MaxBodySize

// MaxMulticall is the largest number of calls in one system.multicall.
const MaxMulticall = 1000

// Authenticator checks the auth struct, the first argument of every call
// but system.*. The core implements it.
type Authenticator interface {
	// Authenticate returns who makes the call. auth is the auth struct
	// ({"AuthMethod": "password", ...}); method is the method called and
	// args the arguments after auth (node HMAC auth signs them). The
	// client's address is plc.ClientAddr(ctx). Bad credentials must be a
	// *plc.Fault with code 103; another error is an internal error.
	Authenticate(ctx context.Context, auth map[string]any, method string, args []any) (*plc.Caller, error)
}

// handler serves /PLCAPI/.
type handler struct {
	reg  *plc.Registry
	auth Authenticator
	log  *slog.Logger
}

// New returns the /PLCAPI/ handler serving reg's methods. POST carries
// XML-RPC calls; GET and HEAD get a small HTML page naming the API.
func New(reg *plc.Registry, auth Authenticator, log *slog.Logger) http.Handler {
	return &handler{reg: reg, auth: auth, log: log}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.page(w, r)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "PLCAPI takes XML-RPC calls by POST", http.StatusMethodNotAllowed)
		return
	}
	if !xmlContentType(r.Header.Get("Content-Type")) {
		http.Error(w, "PLCAPI takes XML-RPC: send Content-Type: text/xml", http.StatusUnsupportedMediaType)
		return
	}
	if r.ContentLength > MaxBodySize {
		tooLarge(w)
		return
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodySize)
	method, params, err := DecodeCall(body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			tooLarge(w)
			return
		}
		h.log.Info("malformed XML-RPC request", "client", r.RemoteAddr, "err", err)
		writeXML(w, EncodeFault(plc.Faultf(plc.FaultInvalidArg, "malformed XML-RPC request: %v", err)))
		return
	}
	ctx := plc.WithRequestAddr(r)
	writeXML(w, h.respond(ctx, method, params))
}

// respond runs one call and encodes its result or fault.
func (h *handler) respond(ctx context.Context, method string, params []any) []byte {
	start := time.Now()
	result, f := h.call(ctx, method, params, false)
	var out []byte
	if f == nil {
		var err error
		if out, err = EncodeResponse(result); err != nil {
			f = plc.AsFault(h.log, method, err)
		}
	}
	if f != nil {
		out = EncodeFault(f)
		h.log.Info("call", "method", method, "client", plc.ClientAddr(ctx), "fault", f.Code, "fault_msg", f.Msg, "took", time.Since(start))
		return out
	}
	h.log.Debug("call", "method", method, "client", plc.ClientAddr(ctx), "took", time.Since(start))
	return out
}

// call dispatches one call: introspection, multicall, or a method of the
// table after authentication and checks.
func (h *handler) call(ctx context.Context, method string, params []any, nested bool) (any, *plc.Fault) {
	if sys, ok := h.systemMethods()[method]; ok {
		if method == "system.multicall" && nested {
			return nil, plc.Faultf(plc.FaultInvalidArg, "system.multicall cannot be nested")
		}
		if f := plc.CheckArgCount(sys.Method, len(params)); f != nil {
			return nil, f
		}
		return sys.run(ctx, params)
	}
	var auth any
	args := params
	if len(params) > 0 {
		auth, args = params[0], params[1:]
	}
	result, ce := h.reg.Dispatch(ctx, h.log, plc.Call{Method: method, Args: args,
		Authenticate: func(ctx context.Context) (*plc.Caller, error) {
			return h.authenticate(ctx, method, len(params) > 0, auth, args)
		}})
	if ce != nil {
		if ce.Step == plc.StepFind {
			return nil, plc.Faultf(plc.FaultInvalidMethod, "unknown method %q (system.listMethods lists them)", method)
		}
		return nil, ce.Fault
	}
	return result, nil
}

// authenticate checks the auth struct, if the call has one.
func (h *handler) authenticate(ctx context.Context, method string, given bool, auth any, args []any) (*plc.Caller, error) {
	if !given {
		return nil, plc.Faultf(plc.FaultArgCount, "%s needs an auth struct as its first argument", method)
	}
	a, ok := auth.(map[string]any)
	if !ok {
		return nil, plc.Faultf(plc.FaultInvalidArg, "the first argument of %s must be an auth struct, like {\"AuthMethod\": \"password\", \"Username\": ..., \"AuthString\": ...}", method)
	}
	return h.auth.Authenticate(ctx, a, method, args)
}

// xmlContentType accepts text/xml and application/xml with any parameters,
// and a missing Content-Type from old clients.
func xmlContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "text/xml" || mt == "application/xml")
}

func tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	http.Error(w, "request body larger than "+strconv.Itoa(MaxBodySize)+" bytes", http.StatusRequestEntityTooLarge)
}

func writeXML(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
}
