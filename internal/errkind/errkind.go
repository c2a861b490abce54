// Package errkind sorts a service's failures into kinds a caller can act
// on, each with the HTTP status the service answers with: the node
// manager's and the lease broker's errors are built from it. An error of
// a kind carries a message meant for the caller and matches its kind with
// errors.Is; any other error is the service's own failure (500).
package errkind

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind is a kind of failure; it is the sentinel error callers match with
// errors.Is.
type Kind struct {
	msg    string
	status int
}

// New returns a kind named msg that answers with the HTTP status.
func New(msg string, status int) *Kind { return &Kind{msg: msg, status: status} }

func (k *Kind) Error() string { return k.msg }

// HTTPStatus is the HTTP status the kind answers with. A client's error
// for a failed call that reports its status this way too (such as
// api.NMCallError) matches the kind with errors.Is, so a caller decides on
// kinds, never on status codes.
func (k *Kind) HTTPStatus() int { return k.status }

// The kinds every service answers with; a service adds its own with New.
var (
	// Invalid is a malformed or out-of-range request.
	Invalid = New("invalid request", http.StatusBadRequest)
	// Denied is an unknown or malformed credential, or a missing privilege.
	Denied = New("denied", http.StatusForbidden)
	// Refused is a request that conflicts with the service's state or
	// another operation in progress, or that admission control refused.
	Refused = New("refused", http.StatusConflict)
	// NotFound is an unknown object.
	NotFound = New("not found", http.StatusNotFound)
	// TooLarge is a request body over the service's bound.
	TooLarge = New("request too large", http.StatusRequestEntityTooLarge)
)

// Errorf returns an error of kind (a *Kind) whose message is format's.
func Errorf(kind error, format string, a ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, a...)}
}

// Status is the HTTP status of err's kind (the first in its chain), or
// 500 for an error of no kind.
func Status(err error) int {
	var k *Kind
	if errors.As(err, &k) {
		return k.status
	}
	return http.StatusInternalServerError
}

// kindError is a failure of one kind with a message meant for the caller.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
