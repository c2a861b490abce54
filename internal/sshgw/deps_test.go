package sshgw

import (
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// TestGatewayDependencies: the gateway states what it needs of slivers
// (Slivers, Process) and the node agent adapts its sliver runtime to it;
// the gateway does not link the runtime.
func TestGatewayDependencies(t *testing.T) {
	testutil.ForbidDeps(t, "the gateway reaches slivers through its Slivers interface, adapted by the node agent", "internal/sliver")
}
