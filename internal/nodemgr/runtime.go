package nodemgr

import (
	"context"

	"github.com/orbisproject/orbis/api"
)

// Runtime creates and runs slivers; internal/sliver implements it for real
// (through the adapter in internal/node) and FakeRuntime for tests. Every method must be safe to call again after
// a crash interrupted it.
type Runtime interface {
	// Create makes the sliver of spec (UID range, root, cgroups, quota,
	// keys), not yet running. It is idempotent: creating a sliver that
	// exists makes it match spec.
	Create(ctx context.Context, spec api.SliverSpec) error
	// Update gives an existing sliver new limits and attributes. An
	// update stored but applied only in part returns an error wrapping
	// api.ErrPartlyApplied; the Manager applies it again later.
	Update(ctx context.Context, spec api.SliverSpec) error
	// Start starts the sliver and runs its boot script.
	Start(ctx context.Context, name string) error
	// Stop stops every process of the sliver.
	Stop(ctx context.Context, name string) error
	// Destroy removes the sliver and everything it owns; destroying a
	// sliver that does not exist succeeds.
	Destroy(ctx context.Context, name string) error
	// Status reports the sliver's state.
	Status(ctx context.Context, name string) (api.SliverStatus, error)
	// List names every sliver found on the node (on disk or in the
	// kernel), so the Manager can destroy those no record owns.
	List(ctx context.Context) ([]string, error)
}
