package install

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestInstallDependencies: install exports Install and Uninstall and
// knows nothing of the command line (its verbs are internal/cli/verbs's),
// nor of what it installs.
func TestInstallDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "install knows nothing of the command line nor of the daemons it installs",
		"internal/cli", "internal/broker", "internal/rootfs", "internal/central", "internal/node")
}
