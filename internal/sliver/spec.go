// Package sliver manages one sliver's lifecycle on a node: the container a
// slice gets, made of a UID range, a copy-on-write root over a reference
// image, cgroups, a disk quota, keys and a boot script. Each step is named
// and safe to rerun, so a half-done create after a crash is finished or
// undone by running it again.
package sliver

import "github.com/orbisproject/orbis/api"

// Spec is everything the node needs to create and run one sliver; the node
// manager builds it at bind time. It is api.SliverSpec, so that the node
// manager, which depends on api only, hands it over as it is.
type Spec = api.SliverSpec

// State is where a sliver is in its lifecycle (api.SliverState).
type State = api.SliverState

// The states a sliver can be in, named here for this package's readers.
const (
	StateCreated = api.SliverCreated
	StateRunning = api.SliverRunning
	StateIdle    = api.SliverIdle
	StateStopped = api.SliverStopped
	StateFailed  = api.SliverFailed
)

// Status is what the node reports about one sliver (api.SliverStatus).
type Status = api.SliverStatus

// ErrPartlyApplied is wrapped by Update's error when the sliver's new spec
// is stored (its keys are the ones trusted) and applied but for what the
// error names. It is api.ErrPartlyApplied, which the node manager checks.
var ErrPartlyApplied = api.ErrPartlyApplied
