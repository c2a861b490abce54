// Package lease is a second slice-creation service (paper 2.2, 4.2.3): a
// broker that sells advance reservations of a node, or of a share of it,
// for a window of whole slots (one hour by default, like PLCAPI's leases on
// reservable nodes), out of what central delegated to it, and creates the
// slivers when the windows open.
//
// The broker runs in a slice of its own, which central makes a node
// manager controller (tag nm_controller=1) with a delegation on each node
// (tags delegate_slivers, delegate_cpu_shares, ...). On each node the
// node manager hands that slice a pool rcap, whose rspec is the
// delegation, and shows its socket inside the broker's sliver at
// /run/orbis-nm/nm.sock. Nothing else is special about the broker: it
// calls the node manager through api.NMClient, as central's resource
// manager does, and could be replaced by any other slice given the same
// tags.
//
// In each sliver of the broker's slice, `orbis-lease serve` runs three
// parts:
//
//   - The Book: every lease of this node, kept in one JSON file in the
//     sliver's own disk, rewritten whole (temporary file, fsync, rename,
//     fsync of the directory) before a reservation is confirmed, so a
//     confirmed lease survives a crash. A malformed book refuses to load
//     rather than being overwritten.
//   - Admission by slot: time is cut into slots of a fixed length; a lease
//     covers whole slots; in every slot, the leases that cover it never
//     ask for more slivers or CPU shares than the delegation holds, and a
//     lease of the whole delegation (a reservation of "the node") has its
//     slots alone. Two leases of one slice never overlap (one sliver per
//     slice per node). The first lease of a slice name returns a token;
//     further leases for that name, and cancels, need it.
//   - The Agent: when a window opens, it splits the pool rcap into an rspec
//     whose start and end are the window and whose CPU shares are the
//     lease's (guarantees in proportion), records the child rcap in the
//     book, and binds it to the lease's slice with the user's SSH keys;
//     when the window ends (or the lease is cancelled) it releases the
//     rcap, which destroys the sliver. The node manager also ends the rcap
//     by itself at the window's end, so a dead broker cannot hold a
//     sliver past its lease. Whatever the broker asks, the node manager
//     holds it within the pool: a split beyond the delegation is refused.
//
// The HTTP API (JSON; served on a TCP port of the node, by default 61080,
// above the kernel's ephemeral range, taken by the first binder through
// the port manager) is:
//
//	GET  /v1/info                   Info: slot length, capacity, now
//	GET  /v1/schedule?from=T&slots=N []SlotUse: what each slot holds
//	GET  /v1/leases                 []Lease (no tokens, no rcaps)
//	POST /v1/leases                 ReserveRequest -> ReserveResponse
//	POST /v1/cancel                 CancelRequest -> Lease
//
// Errors are a status (400 malformed, 403 bad token, 404 unknown lease,
// 409 refused by admission, 413 too large, 503 no delegation yet) with an
// Error body. Client speaks it; `orbis lease` is its command line.
//
// Trust: anyone who reaches the port may reserve (a broker's policy; a
// market would ask for payment here); a slice name's token guards its
// leases. The broker cannot take a slice it does not own: the node
// manager refuses to bind a pool's split to a slice whose sliver is bound
// to someone else's rcap (central's slices, other brokers'), so such a
// lease fails at its window and says so. Central has no tag for reserving
// a port to a slice, hence the high port; the broker is restarted by
// whoever runs the slice (its initscript may start it).
//
// Not done: an active lease whose sliver the node manager lost (a node
// reinstall) is not re-created; a whole lease splits the pool as it is at
// the window's start.
package lease
