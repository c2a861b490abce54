package node

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestNodeDependencies: the node agent exports Config, Open and Run and
// knows nothing of the command line (its verbs are internal/cli/verbs's);
// it does not link the lease broker, which runs in a slice.
func TestNodeDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "daemons know nothing of the command line; the lease broker runs in a slice", "internal/cli", "internal/broker")
}
