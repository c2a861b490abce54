package lease

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/internal/errkind"
)

// TestCommonKindsAreErrkinds: the broker's common failures are errkind's
// kinds, so a caller of any Orbis service matches them the same way.
func TestCommonKindsAreErrkinds(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want error
	}{
		{"invalid", errorf(ErrInvalid, "x"), errkind.Invalid},
		{"denied", errorf(ErrDenied, "x"), errkind.Denied},
		{"refused", errorf(ErrRefused, "x"), errkind.Refused},
		{"not found", errorf(ErrNotFound, "x"), errkind.NotFound},
	} {
		if !errors.Is(c.got, c.want) {
			t.Errorf("%s: %v is not errkind's kind", c.name, c.got)
		}
	}
}
