// Package sliver manages one sliver's lifecycle on a node: the container a
// slice gets, made of a UID range, a copy-on-write root over a reference
// image, cgroups, a disk quota, keys and a boot script. Each step is named
// and safe to rerun, so a half-done create after a crash is finished or
// undone by running it again.
package sliver

import "github.com/orbisproject/orbis/api"

// Spec is everything the node needs to create and run one sliver. The node
// manager builds it at bind time from the slice name, the rcap's rspec and
// the slice's attributes.
type Spec struct {
	// Name is the slice name, e.g. "princeton_codeen"; it is the sliver's
	// hostname and the name of its cgroup and directories.
	Name string `json:"name"`
	// UIDBase is the first host UID (and GID) of the slice's range: UID 0
	// inside the sliver is UIDBase on the host.
	UIDBase uint32 `json:"uid_base"`
	// UIDCount is the size of the range (65536).
	UIDCount uint32 `json:"uid_count"`
	// Image is the reference image the sliver's root is layered over.
	Image string `json:"image"`
	// Keys are the slice users' SSH public keys, one authorized_keys line each.
	Keys []string `json:"keys,omitempty"`
	// InitScript is the boot script run at every start (the paper's
	// rc.vinit, PLCAPI's initscript).
	InitScript string `json:"initscript,omitempty"`
	// Rspec holds the resources and limits to enforce.
	Rspec api.Rspec `json:"rspec"`
}

// State is where a sliver is in its lifecycle.
type State string

// The states a sliver can be in. An idle sliver is started but has no
// process left: it costs files and records only, and the next login or
// start brings it back.
const (
	StateCreated State = "created" // files and cgroups exist, never started
	StateRunning State = "running" // has at least one process
	StateIdle    State = "idle"    // started, boot script done, no process left
	StateStopped State = "stopped" // stopped on purpose; logins refused
	StateFailed  State = "failed"  // could not be created or started; see Reason
)

// Status is what the node reports about one sliver.
type Status struct {
	Name   string `json:"name"`
	State  State  `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Procs is the number of processes in the sliver now.
	Procs int `json:"procs"`
}
