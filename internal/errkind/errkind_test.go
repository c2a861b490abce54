package errkind

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
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
