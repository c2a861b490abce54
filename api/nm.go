package api

// Wire types of the node manager (paper 4.2.1), spoken as JSON over HTTP on
// the node manager's Unix socket. Every call is a POST of one JSON object to
// /v1/<op> (list is a GET of /v1/list); a failure is an HTTP status with an
// NMError body. Rcaps travel only in request and response bodies, never in
// URLs, so they stay out of logs.

// NMSocket is where the node manager listens by default on the host.
const NMSocket = "/run/orbis/nm.sock"

// NMMaxBody is the largest request body the node manager accepts.
const NMMaxBody = 64 << 10

// AcquireRequest asks for an rcap to the resources of Rspec
// (POST /v1/acquire).
type AcquireRequest struct {
	Rspec Rspec `json:"rspec"`
}

// AcquireResponse carries the new rcap. It is the only time the node
// manager reveals it: keep it secret, pass it on to whom you choose.
type AcquireResponse struct {
	Rcap Rcap `json:"rcap"`
}

// BindAttrs are the slice's attributes a sliver is created with.
type BindAttrs struct {
	// Keys are the slice users' SSH public keys, one authorized_keys line
	// each.
	Keys []string `json:"keys,omitempty"`
	// InitScript is the boot script run at every start of the sliver.
	InitScript string `json:"initscript,omitempty"`
	// Image names the reference image; empty means the node's default.
	Image string `json:"image,omitempty"`
}

// BindRequest binds the resources of Rcap to the sliver of Slice, creating
// and starting it if it does not exist yet (POST /v1/bind). Binding another
// rcap to a slice that has a sliver moves the sliver onto that rcap's
// resources; binding the same rcap again updates the attributes.
type BindRequest struct {
	Slice string    `json:"slice"`
	Rcap  Rcap      `json:"rcap"`
	Attrs BindAttrs `json:"attrs"`
}

// SplitRequest carves Rspec out of the resources of Rcap into a new rcap
// (POST /v1/split). The parent's guarantees shrink by exactly the child's;
// the child's limits, privileges and time window stay within the parent's.
// A zero limit or time in Rspec means "the parent's".
type SplitRequest struct {
	Rcap  Rcap  `json:"rcap"`
	Rspec Rspec `json:"rspec"`
}

// SplitResponse carries the child rcap.
type SplitResponse struct {
	Rcap Rcap `json:"rcap"`
}

// RcapRequest names an rcap, for release and query (POST /v1/release,
// POST /v1/query).
type RcapRequest struct {
	Rcap Rcap `json:"rcap"`
}

// QueryResponse describes what an rcap holds.
type QueryResponse struct {
	// ID is the rcap's public identifier, as list shows it.
	ID string `json:"id"`
	// Rspec is the rspec with the node's defaults filled in.
	Rspec Rspec `json:"rspec"`
	// Slice is the slice the rcap is bound to, if any.
	Slice string `json:"slice,omitempty"`
}

// SliverRequest names a sliver, for start, stop and destroy
// (POST /v1/start, /v1/stop, /v1/destroy).
type SliverRequest struct {
	Name string `json:"name"`
}

// NMList is the node manager's whole state as list shows it (GET /v1/list).
type NMList struct {
	Rcaps   []RcapInfo   `json:"rcaps"`
	Slivers []SliverInfo `json:"slivers"`
	// Problems are what keeps the node from working as it should (such
	// as a full disk, which keeps it from taking new slivers).
	Problems []string `json:"problems,omitempty"`
}

// RcapInfo describes one live rcap. List never reveals the rcap itself;
// rcaps reveals it to its owner.
type RcapInfo struct {
	// Rcap is the rcap itself, in an rcaps answer only, and only when the
	// node manager keeps it: it does for rcaps a slice owns (it made them
	// or was handed them), not for central's, which exist as hashes only.
	Rcap Rcap `json:"rcap,omitempty"`
	// ID is a short public identifier derived from the rcap's hash; it
	// cannot be turned back into the rcap.
	ID string `json:"id"`
	// Parent is the ID of the rcap this one was split from, if any.
	Parent string `json:"parent,omitempty"`
	Rspec  Rspec  `json:"rspec"`
	// Pool marks a broker's pool rcap: the one the node manager made from
	// the delegation (Rspec.Delegated) of the slice that owns it.
	Pool bool `json:"pool,omitempty"`
	// Bound is the slice the rcap is bound to, or "".
	Bound string `json:"bound,omitempty"`
	// Owner is the principal that may use the rcap: "central" or
	// "slice:<name>".
	Owner string `json:"owner,omitempty"`
}

// NMRcaps is the answer of rcaps (POST /v1/rcaps with an empty object):
// the rcaps the caller owns, as the peer credentials of its connection
// name it.
type NMRcaps struct {
	Rcaps []RcapInfo `json:"rcaps"`
}

// PassRequest moves the ownership of Rcap to the slice To (POST /v1/pass;
// To may also be "central"). The caller must own the rcap; afterwards it
// works for To only, and the giver is refused.
type PassRequest struct {
	Rcap Rcap   `json:"rcap"`
	To   string `json:"to"`
}

// ExtendRequest moves the end of Rcap, which the caller owns, to End (Unix
// seconds) in place (POST /v1/extend): the rcap and the sliver bound to it
// stay as they are and live until the later end. Only a later end is
// taken; an rcap split from another ends no later than its parent, and a
// slice's rcap no later than the rspec its own sliver is bound to.
type ExtendRequest struct {
	Rcap Rcap  `json:"rcap"`
	End  int64 `json:"end"`
}

// AmendRequest gives Rcap, which the caller owns, the resources Rspec in
// place (POST /v1/amend): the rcap keeps its ID, and a sliver bound to it
// gets the new limits and ports at once. Rspec is checked as at acquire,
// and admission counts only what it adds (higher guarantees, new ports):
// the rcap's own count as its own, so lowering always succeeds. A split
// keeps its guarantees and ports and stays within its parent; a pool
// cannot be amended (it follows its delegation).
type AmendRequest struct {
	Rcap  Rcap  `json:"rcap"`
	Rspec Rspec `json:"rspec"`
}

// ReclaimRequest releases the rcap whose public ID is ID, whoever owns it
// (POST /v1/reclaim): the operator's way (host root only) to free an rcap
// stranded with a slice that cannot or will not release it; central
// itself cannot use the rcaps it gave away. A sliver bound to it is
// destroyed; a broker's pool goes with the rcaps split from it.
type ReclaimRequest struct {
	ID string `json:"id"`
}

// NMSliverSocket is where a sliver of a slice with
// Privileges.NodeManager finds the node manager.
const NMSliverSocket = "/run/orbis-nm/nm.sock"

// SliverInfo describes one sliver.
type SliverInfo struct {
	Name string `json:"name"`
	// Rcap is the ID of the rcap the sliver is bound to.
	Rcap string `json:"rcap"`
	// State is the runtime's state (created, running, idle, stopped,
	// failed), or the node manager's while an operation is under way
	// (creating, updating, destroying).
	State    SliverState `json:"state"`
	Reason   string      `json:"reason,omitempty"`
	Procs    int         `json:"procs"`
	UIDBase  uint32      `json:"uid_base"`
	UIDCount uint32      `json:"uid_count"`
	Image    string      `json:"image"`
}

// NMError is the body of every failed call.
type NMError struct {
	Error string `json:"error"`
}
