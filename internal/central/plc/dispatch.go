package plc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/orbisproject/orbis/internal/central/store"
)

// Dispatch is how every codec (XML-RPC, the JSON API, the portal's Go
// calls) runs a method of the table: the codecs only decode a call and
// encode what Dispatch returns.

// MaxBodySize is the largest request body a codec accepts, in bytes.
const MaxBodySize = 4 << 20

// MaxDepth bounds the nesting of arrays and structs in a call or a
// result, so that a hostile body cannot exhaust a decoder's stack.
const MaxDepth = 64

// A Call is one call of a method, as a codec decoded it.
type Call struct {
	// Method names the method; Args are its arguments after auth.
	Method string
	Args   []any
	// Authenticate returns who makes the call, from the credentials the
	// codec decoded (XML-RPC's auth struct, the JSON API's bearer
	// token). Bad credentials must be a *Fault with code 103; another
	// error is an internal error.
	Authenticate func(ctx context.Context) (*Caller, error)
}

// Step names the step of Dispatch at which a call failed.
type Step int

// The steps of Dispatch, in order.
const (
	StepFind  Step = iota // no method of that name
	StepArgs              // a wrong number of arguments
	StepAuth              // the credentials were refused
	StepRoles             // the caller holds none of the method's roles
	StepRun               // the method failed
)

// CallError is why Dispatch refused or failed a call: the fault the client
// sees, and what a codec needs to choose its own answer (the JSON API's
// HTTP status).
type CallError struct {
	Step Step
	// Method is the method called.
	Method string
	Fault  *Fault
	// Err is the error Fault was made from at StepAuth and StepRun (the
	// authenticator's, the method's); nil at the checks.
	Err error
	// Caller is who was refused at StepRoles.
	Caller *Caller
}

// Error is the fault's text.
func (e *CallError) Error() string { return e.Fault.Error() }

// Dispatch runs one call: it finds the method, checks the number of
// arguments, authenticates the caller, checks the caller's roles, runs
// the method (a panic becomes an error) and turns its error into a fault
// (AsFault). The arguments are counted before the credentials are
// checked, as PLCAPI does.
func (r *Registry) Dispatch(ctx context.Context, log *slog.Logger, call Call) (any, *CallError) {
	m := r.Lookup(call.Method)
	if m == nil {
		return nil, &CallError{Method: call.Method, Step: StepFind, Fault: Faultf(FaultInvalidMethod, "unknown method %q", call.Method)}
	}
	if f := CheckArgCount(m, len(call.Args)); f != nil {
		return nil, &CallError{Method: call.Method, Step: StepArgs, Fault: f}
	}
	c, err := call.Authenticate(ctx)
	if err == nil && c == nil {
		err = errors.New("authenticator returned no caller")
	}
	if err != nil {
		return nil, &CallError{Method: call.Method, Step: StepAuth, Fault: AsFault(log, call.Method, err), Err: err}
	}
	if f := authorize(m, c); f != nil {
		return nil, &CallError{Method: call.Method, Step: StepRoles, Fault: f, Caller: c}
	}
	result, err := invoke(ctx, m, c, call.Args)
	if err != nil {
		return nil, &CallError{Method: call.Method, Step: StepRun, Fault: AsFault(log, call.Method, err), Err: err}
	}
	return result, nil
}

// authorize returns PLCAPI's fault unless c holds one of m's roles (see
// Method.Authorize).
func authorize(m *Method, c *Caller) *Fault { return m.Authorize(c) }

// CheckArgCount returns an argument count fault (101) unless n, the number
// of arguments after auth, is within m's bounds.
func CheckArgCount(m *Method, n int) *Fault {
	if n >= m.MinArgs && n <= m.MaxArgs {
		return nil
	}
	want := fmt.Sprintf("%d", m.MinArgs)
	if m.MaxArgs != m.MinArgs {
		want = fmt.Sprintf("%d to %d", m.MinArgs, m.MaxArgs)
	}
	return Faultf(FaultArgCount, "%s takes %s arguments after auth, got %d", m.Name, want, n)
}

// invoke runs m for c, turning a panic into an error.
func invoke(ctx context.Context, m *Method, c *Caller, args []any) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", m.Name, p, debug.Stack())
		}
	}()
	return m.Call(ctx, c, args)
}

// clientErrors are store errors caused by the request, not by a fault of
// the server: reported as invalid argument (102) with the store's message.
var clientErrors = []error{store.ErrConflict, store.ErrNotFound, store.ErrInvalidField}

// AsFault turns the error of a method or an authenticator into the fault
// the client sees: a *Fault anywhere in the chain as it is; a store
// conflict, not-found or invalid-field error as fault 102 with the store's
// own message ("conflict: login_base \"x\" exists"); anything else as
// fault 111 with a reference to the detail, which is logged, not shown.
func AsFault(log *slog.Logger, method string, err error) *Fault {
	var f *Fault
	if errors.As(err, &f) {
		return f
	}
	for _, sentinel := range clientErrors {
		if errors.Is(err, sentinel) {
			return &Fault{Code: FaultInvalidArg, Msg: innerMessage(err, sentinel)}
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		log.Info("call cancelled", "method", method, "err", err)
		return Faultf(FaultAPI, "the call was cancelled or timed out; try again")
	}
	ref := newRef()
	log.Error("internal error", "method", method, "ref", ref, "err", err)
	return Faultf(FaultAPI, "internal error in %s (reference %s); the operator can find it in central's log", method, ref)
}

// IsInternal reports whether AsFault reports err as an internal error: it
// is neither a *Fault nor a store error caused by the request. The
// JSON API answers 500 for these and 409 for a fault 111 the core chose.
func IsInternal(err error) bool {
	var f *Fault
	if errors.As(err, &f) {
		return false
	}
	for _, sentinel := range clientErrors {
		if errors.Is(err, sentinel) {
			return false
		}
	}
	return true
}

// innerMessage returns the message of the error that directly wraps
// sentinel in err's chain (the store's own "conflict: login_base ..."),
// without the callers' prefixes that name internals.
func innerMessage(err, sentinel error) string {
	var find func(error) string
	find = func(e error) string {
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if u.Unwrap() == sentinel {
				return e.Error()
			}
			if next := u.Unwrap(); next != nil {
				return find(next)
			}
		case interface{ Unwrap() []error }:
			for _, next := range u.Unwrap() {
				if next == sentinel {
					return e.Error()
				}
				if s := find(next); s != "" {
					return s
				}
			}
		}
		return ""
	}
	if s := find(err); s != "" {
		return s
	}
	return sentinel.Error()
}

// newRef returns a short random reference for a logged error.
func newRef() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
