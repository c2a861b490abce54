package node

import (
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/sliver"
)

// The node's sliver manager is the node manager's Runtime. The node
// manager depends on api and its Runtime interface only, never on
// internal/sliver (and through it the sandbox, cgroups, disks and images):
// the two share the api types (api.SliverSpec, api.SliverStatus,
// api.ErrPartlyApplied) and meet here, in the composition root.
var _ nodemgr.Runtime = (*sliver.Manager)(nil)
