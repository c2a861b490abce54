package xmlrpc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
)

// This file holds what both encodings of the method table share (the JSON
// API in ../jsonapi uses it too): role checks, argument counts, running a
// method, and turning its errors into faults.

// ClientAddr returns the IP address of the client making the call in ctx,
// or "". Both API handlers set it (plc.WithRequestAddr), for the
// authenticator to throttle failed logins; it is plc.ClientAddr, named
// here for callers of this package.
func ClientAddr(ctx context.Context) string { return plc.ClientAddr(ctx) }

// Authorize returns PLCAPI's fault unless c holds one of m's roles (see
// plc.Method.Authorize).
func Authorize(m *plc.Method, c *plc.Caller) *plc.Fault { return m.Authorize(c) }

// CheckArgCount returns an argument count fault (101) unless n, the number
// of arguments after auth, is within m's bounds.
func CheckArgCount(m *plc.Method, n int) *plc.Fault {
	if n >= m.MinArgs && n <= m.MaxArgs {
		return nil
	}
	want := fmt.Sprintf("%d", m.MinArgs)
	if m.MaxArgs != m.MinArgs {
		want = fmt.Sprintf("%d to %d", m.MinArgs, m.MaxArgs)
	}
	return plc.Faultf(plc.FaultArgCount, "%s takes %s arguments after auth, got %d", m.Name, want, n)
}

// Invoke runs m for c, turning a panic into an error.
func Invoke(ctx context.Context, m *plc.Method, c *plc.Caller, args []any) (result any, err error) {
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
// the client sees: a *plc.Fault anywhere in the chain as it is; a store
// conflict, not-found or invalid-field error as fault 102 with the store's
// own message ("conflict: login_base \"x\" exists"); anything else as
// fault 111 with a reference to the detail, which is logged, not shown.
func AsFault(log *slog.Logger, method string, err error) *plc.Fault {
	var f *plc.Fault
	if errors.As(err, &f) {
		return f
	}
	for _, sentinel := range clientErrors {
		if errors.Is(err, sentinel) {
			return &plc.Fault{Code: plc.FaultInvalidArg, Msg: innerMessage(err, sentinel)}
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		log.Info("call cancelled", "method", method, "err", err)
		return plc.Faultf(plc.FaultAPI, "the call was cancelled or timed out; try again")
	}
	ref := newRef()
	log.Error("internal error", "method", method, "ref", ref, "err", err)
	return plc.Faultf(plc.FaultAPI, "internal error in %s (reference %s); the operator can find it in central's log", method, ref)
}

// IsInternal reports whether AsFault reports err as an internal error: it
// is neither a *plc.Fault nor a store error caused by the request. The
// JSON API answers 500 for these and 409 for a fault 111 the core chose.
func IsInternal(err error) bool {
	var f *plc.Fault
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
