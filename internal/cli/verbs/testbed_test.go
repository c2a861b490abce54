package verbs

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/cli"
)

// TestVerbErrors: bad command lines end with a usage error (exit 2) that
// says what is wrong, before anything is touched.
func TestVerbErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "usage: orbis testbed"},
		{[]string{"frob"}, `unknown subcommand "frob"`},
		{[]string{"up", "--subnet", "10.1.2.3"}, "--subnet"},
		{[]string{"up", "extra"}, "usage"},
		{[]string{"status", "--nodes", "3"}, "-nodes"},
	} {
		var stderr strings.Builder
		err := runTestbed(context.Background(), &cli.Env{Stdout: io.Discard, Stderr: &stderr}, tc.args)
		var u *cli.UsageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("orbis testbed %v: %v, want a usage error about %q", tc.args, err, tc.msg)
		}
	}
}
