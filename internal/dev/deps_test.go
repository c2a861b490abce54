package dev

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestDevDependencies: dev exports Config and Run and knows nothing of
// the command line (its verb is internal/cli/verbs's).
func TestDevDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "daemons know nothing of the command line; the lease broker runs in a slice", "internal/cli", "internal/broker")
}
