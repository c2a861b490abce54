package errkind

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/orbisproject/orbis/api"
)

func TestStatus(t *testing.T) {
	invalid := New("invalid request", http.StatusBadRequest)
	denied := New("denied", http.StatusForbidden)
	err := Errorf(invalid, "rspec: cpu_shares %d is negative", -1)
	if err.Error() != "rspec: cpu_shares -1 is negative" {
		t.Errorf("message = %q", err)
	}
	if !errors.Is(err, invalid) || errors.Is(err, denied) {
		t.Errorf("errors.Is(%v): want invalid only", err)
	}
	for _, c := range []struct {
		err  error
		want int
	}{
		{err, http.StatusBadRequest},
		{fmt.Errorf("bind: %w", Errorf(denied, "rcap refused")), http.StatusForbidden},
		{denied, http.StatusForbidden},
		{errors.New("disk full"), http.StatusInternalServerError},
		{nil, http.StatusInternalServerError},
	} {
		if got := Status(c.err); got != c.want {
			t.Errorf("Status(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestClientErrorMatchesKind: a client's error for a failed call matches
// the kind the service answered with, and no other, so callers decide on
// kinds, never on status codes.
func TestClientErrorMatchesKind(t *testing.T) {
	for _, k := range []*Kind{Invalid, Denied, Refused, NotFound, TooLarge} {
		err := fmt.Errorf("release: %w", &api.NMCallError{Status: k.HTTPStatus(), Msg: "no"})
		for _, other := range []*Kind{Invalid, Denied, Refused, NotFound, TooLarge} {
			if got := errors.Is(err, other); got != (other == k) {
				t.Errorf("errors.Is(call failed with %d, %v) = %v", k.HTTPStatus(), other, got)
			}
		}
	}
	if errors.Is(errors.New("dial: connection refused"), Refused) {
		t.Error("an error of no kind matches Refused")
	}
}
