package testbed

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestTestbedDependencies: the testbed exports Config, Up, Status and
// Down and knows nothing of the command line (its verb is
// internal/cli/verbs's).
func TestTestbedDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "daemons know nothing of the command line; the lease broker runs in a slice", "internal/cli", "internal/broker")
}
