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
//   - The Book: every lease of this node and every buyer's account, kept
//     in one JSON file in the sliver's own disk, rewritten whole
//     (temporary file, fsync, rename, fsync of the directory) before a
//     reservation or a grant is confirmed, so a confirmed lease and its
//     charge survive a crash together. A malformed book refuses to load
//     rather than being overwritten.
//   - Accounts: the broker sells leases (paper 2.3: SHARP-style tickets,
//     Bellagio's currency). The operator grants each buyer an account
//     with a credit in share-slots; a lease of S CPU shares for N slots
//     costs S × N (a whole lease, all the delegation's shares × N). A
//     reservation must carry the buyer's credential (ACCOUNT:SECRET, a
//     128-bit secret; the book keeps its SHA-256 alone and compares in
//     constant time), and is refused (402) if the credit left cannot pay
//     for it; the debit is in the same write as the lease. A lease
//     cancelled before its window opens, or that fails unopened (the
//     node manager refused it, or the window passed while the broker was
//     down), is refunded; once its window opened, it is not.
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
// above the kernel's ephemeral range, reserved to the broker's slice by
// central's ports tag) is:
//
//	GET  /v1/info                   Info: slot length, capacity, now
//	GET  /v1/schedule?from=T&slots=N []SlotUse: what each slot holds
//	GET  /v1/leases                 []Lease (no tokens, no rcaps)
//	POST /v1/leases                 ReserveRequest -> ReserveResponse (buyer)
//	POST /v1/cancel                 CancelRequest -> Lease
//	GET  /v1/account                Account of the caller (buyer)
//	GET  /v1/accounts               []Account (operator)
//	POST /v1/accounts               GrantRequest -> GrantResponse (operator)
//
// "buyer" routes take the buyer's credential, "operator" ones the
// operator's secret, as "Authorization: Bearer ...". Errors are a status
// (400 malformed, 401 missing or wrong credential or operator secret,
// 402 credit exhausted, 403 bad token, 404 unknown lease or account, 409
// refused by admission, 413 too large, 503 no delegation yet) with an
// Error body. Client speaks it; `orbis lease` is its command line.
//
// Connections: one client (a remote address, an IPv6 /64, or a local
// user) holds at most DefaultMaxConnsPerClient at a time, all clients
// DefaultMaxConns (flags --conns-per-client, --conns of `orbis-lease
// serve`); further ones are closed at accept, so no client can take the
// file descriptors of the broker's sliver. Inside that sliver the kernel
// shows the users of every other slice on the node as one (the overflow
// UID), so those share one bound; remote buyers are not affected by them.
//
// Trust: a buyer's credential pays; a slice name's token guards its
// leases (cancelling needs the token, and refunds the account that paid).
// The operator is whoever controls the broker's slice: serve makes a
// secret at its first start, kept in the book's directory as
// OperatorFile (mode 0600), so anyone who runs commands in the broker's
// sliver may grant (`orbis-lease grant`, `orbis-lease accounts`); others
// must be given the secret. The API is plain HTTP: credentials cross the
// network in clear (no TLS yet). The broker cannot take a
// slice it was not given: the node manager binds a broker's rcaps only to
// its own slice and the slices central names in its tag bind_slices, and
// never over a sliver bound to someone else's rcap, so a lease for any
// other slice fails at its window and says so (and is refunded). Its port is its slice's if central's admin gives the slice the tag
// ports=tcp/61080: the node's port manager then refuses it to every other
// slice. The broker is restarted by whoever runs the slice (its
// initscript may start it).
//
// Not done: an active lease whose sliver the node manager lost (a node
// reinstall) is not re-created; a whole lease splits the pool as it is at
// the window's start.
package lease
