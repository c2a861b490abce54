package api

// A SliverState is where a sliver is, as a node reports it to central
// (SliverReport) and its node manager lists it (SliverInfo).
type SliverState string

// The states of a sliver. The first five are the runtime's; the node
// manager reports the next three while an operation is under way, and
// unknown when it cannot ask the runtime.
const (
	SliverCreated    SliverState = "created" // files and cgroups exist, never started
	SliverRunning    SliverState = "running" // has at least one process
	SliverIdle       SliverState = "idle"    // started, boot script done, no process left
	SliverStopped    SliverState = "stopped" // stopped on purpose; logins refused
	SliverFailed     SliverState = "failed"  // could not be created or started; see the reason
	SliverCreating   SliverState = "creating"
	SliverUpdating   SliverState = "updating"
	SliverDestroying SliverState = "destroying"
	// SliverUnknown: the node manager could not ask the runtime.
	SliverUnknown SliverState = "unknown"
)

// SliverStates are every state, in the order above.
var SliverStates = []SliverState{
	SliverCreated, SliverRunning, SliverIdle, SliverStopped, SliverFailed,
	SliverCreating, SliverUpdating, SliverDestroying, SliverUnknown,
}

// Valid reports whether s is one of SliverStates.
func (s SliverState) Valid() bool {
	for _, v := range SliverStates {
		if s == v {
			return true
		}
	}
	return false
}
