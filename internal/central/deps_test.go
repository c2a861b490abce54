package central_test

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestCentralDependencies: central exports Config and Run and knows
// nothing of the command line (its verb is internal/cli/verbs's), and it
// links neither the lease broker, which runs in a slice of its own, nor
// the image builder, which is the nodes'.
func TestCentralDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "daemons know nothing of the command line; the lease broker and the image builder are not central's",
		"internal/cli", "internal/broker", "internal/rootfs")
}
