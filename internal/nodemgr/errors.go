package nodemgr

import "github.com/orbisproject/orbis/internal/errkind"

// The kinds of failure a caller can act on. Every error the Manager returns
// for a bad request wraps exactly one of them; anything else is the node's
// own failure, answered with 500; each kind answers with its own HTTP
// status (errkind.Status), and a client's error for a failed call
// (api.NMCallError) matches its kind with errors.Is.
var (
	// ErrInvalid is a malformed or out-of-range request.
	ErrInvalid error = errkind.Invalid
	// ErrDenied is an unknown, released or malformed rcap, or a missing
	// privilege.
	ErrDenied error = errkind.Denied
	// ErrRefused is a request admission control refused, or one that
	// conflicts with the node's state or another operation in progress.
	ErrRefused error = errkind.Refused
	// ErrNotFound is an unknown sliver.
	ErrNotFound error = errkind.NotFound
	// ErrTooLarge is a request body over api.NMMaxBody.
	ErrTooLarge error = errkind.TooLarge
)

func invalidf(format string, a ...any) error { return errkind.Errorf(ErrInvalid, format, a...) }

func deniedf(format string, a ...any) error { return errkind.Errorf(ErrDenied, format, a...) }

func refusedf(format string, a ...any) error { return errkind.Errorf(ErrRefused, format, a...) }

func notFoundf(format string, a ...any) error { return errkind.Errorf(ErrNotFound, format, a...) }
