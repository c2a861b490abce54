package api

import "errors"

// SliverSpec is everything a node needs to create and run one sliver. The
// node manager builds it at bind time from the slice name, the rcap's
// rspec and the slice's attributes, and hands it to its runtime.
type SliverSpec struct {
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
	Rspec Rspec `json:"rspec"`
}

// SliverStatus is what a node's runtime reports about one sliver.
type SliverStatus struct {
	Name   string      `json:"name"`
	State  SliverState `json:"state"`
	Reason string      `json:"reason,omitempty"`
	// Procs is the number of processes in the sliver now.
	Procs int `json:"procs"`
}

// ErrPartlyApplied is wrapped by a runtime's error when a sliver's new
// spec is stored (its keys are the ones trusted) and applied but for what
// the error names; the node manager applies it again later.
var ErrPartlyApplied = errors.New("not all of the update is in force")
