package nodemgr

import (
	"errors"
	"fmt"
	"net/http"
)

// The kinds of failure a caller can act on. Every error the Manager returns
// for a bad request wraps exactly one of them; anything else is the node's
// own failure.
var (
	// ErrInvalid is a malformed or out-of-range request.
	ErrInvalid = errors.New("invalid request")
	// ErrDenied is an unknown, released or malformed rcap, or a missing
	// privilege.
	ErrDenied = errors.New("denied")
	// ErrRefused is a request admission control refused, or one that
	// conflicts with the node's state or another operation in progress.
	ErrRefused = errors.New("refused")
	// ErrNotFound is an unknown sliver.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge is a request body over api.NMMaxBody.
	ErrTooLarge = errors.New("request too large")
)

// opError is a failure with a message meant for the caller, of one kind.
type opError struct {
	kind error
	msg  string
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.kind }

func invalidf(format string, a ...any) error {
	return &opError{kind: ErrInvalid, msg: fmt.Sprintf(format, a...)}
}

func deniedf(format string, a ...any) error {
	return &opError{kind: ErrDenied, msg: fmt.Sprintf(format, a...)}
}

func refusedf(format string, a ...any) error {
	return &opError{kind: ErrRefused, msg: fmt.Sprintf(format, a...)}
}

func notFoundf(format string, a ...any) error {
	return &opError{kind: ErrNotFound, msg: fmt.Sprintf(format, a...)}
}

// httpStatus maps an error to the HTTP status the server answers with.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrDenied):
		return http.StatusForbidden
	case errors.Is(err, ErrRefused):
		return http.StatusConflict
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}
