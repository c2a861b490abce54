// Package plc is central's core, the paper's PlanetLab Central (4.2.3):
// the table of API methods with their roles and policies, authentication,
// and the translation of slices into what nodes run. The XML-RPC layer
// (PLCAPI) and the JSON API are two encodings of the same method table,
// which New(Options).Registry() fills. Methods take and return generic
// values (int64, float64, string, bool, nil, []any, map[string]any).
//
// # Authentication (the first argument of every XML-RPC call)
//
//	{"AuthMethod": "password", "Username": email, "AuthString": password}
//	{"AuthMethod": "session", "session": key}           key from GetSession, 24 h
//	{"AuthMethod": "hmac", "node_id": N, "value": hex}  PlanetLab's node auth
//	{"AuthMethod": "hmac", "node_id": N, "time": T, "value": "sha256:" hex}
//	{"AuthMethod": "anonymous"}                          GetSites, GetNodes, GetLeases, GetRoles
//
// Passwords are stored as argon2id hashes (see password.go); a disabled
// person cannot log in. Failed password logins are throttled per (client
// source, account), per source and per account (ratelimit.go): a correct
// password is refused only after wrong ones from the same source, never
// because of guesses from elsewhere, and a refusal (fault 103) says which
// limit it met ("too many failed logins as <email> from your address
// (<addr>): retry in N s"). The source is the TCP peer (its /64 for
// IPv6); X-Forwarded-For counts only from TrustedProxies. Session keys,
// JSON API tokens (Login, AuthenticateToken) and node registration tokens
// are 32 random bytes in hex, stored as SHA-256, and never throttled.
//
// Revocation: DeleteSession ends the session a call authenticates with
// (PlanetLab's contract; other auth methods get fault 102), Logout the
// JSON API token (POST /api/v1/logout). Setting a person's password
// (UpdatePerson) or disabling them ends all their sessions and tokens;
// when a person changes their own password, the session or token making
// the call is kept (PlanetLab kept every session; keeping the caller's
// lets a tool change the password and go on). DeletePerson ends them too.
// Emails are checked on the way in by one validator (email.go); stored
// ones are never checked again, so no record is lost.
//
// Node HMAC: the node's secret (RegisterNode) keys an HMAC over
// Canonical(args) — every leaf argument after auth in Python's str() form,
// sorted, concatenated, wrapped in "[" "]" (struct keys are left out). The
// legacy value is PlanetLab's: hex HMAC-SHA1 of that string (LegacyHMAC).
// Orbis nodes send "sha256:" + hex HMAC-SHA256 of method + "\n" + time +
// "\n" + that string, with the same time (Unix seconds, within 300 s of
// central's clock) in the struct (HMACValue, NodeAuth): it also binds the
// method and cannot be replayed later.
//
// # Roles
//
// admin may do everything. A PI manages their sites (UpdateSite but its
// quotas), their persons (not admins) and slices (AddSlice, DeleteSlice,
// users, shares, max_nodes). A tech manages their sites' nodes. A user
// works in the slices they belong to (nodes, tags, renewal). Persons see
// themselves and the persons of their sites and slices; slices their own,
// their sites' (PI) and their nodes' (tech). Nodes see their own slivers.
// Faults: 102 a wrong argument (named; an unknown AuthMethod too), 103
// authentication, 108 permission, 106 a database failure, 109 a PLCAPI
// method Orbis does not implement yet (every PLCAPI 5.x method is in the
// table: plcapi_methods.go). A caller whose roles may not call a method
// gets PLCAPI's code: 103 after a password, node HMAC or anonymous auth,
// 108 with a session or JSON API token (Method.Authorize).
//
// # Filters
//
// A Get* filter is nil (all), an id, a name (login_base, email, hostname,
// slice name, tagname), a list of ids and names, or a struct of
// conditions, all of which must hold ("-OR": any of them): "field"
// equals (a list: is one of; a list field: contains; a string with * or
// %: matches; None: is null), "~field" the negation, "<field" ">field"
// "[field" "]field" compare (< > <= >=), "&field" "|field" a list field
// holds all or any of the values, and "-SORT" (a field or list, "-field"
// descending), "-OFFSET", "-LIMIT" page. What the caller may see is ANDed
// to the filter, "-OR" or not. Fields every record has the same value of
// (peer_id: None, Orbis keeps no foreign records) filter as constants.
// The next argument, return_fields, lists the fields to return.
//
// # Policy
//
// Slice names are <login_base>_<name> (^[a-z0-9.]+_[a-zA-Z0-9_.]+$, at
// most 64), the prefix an enabled site; a non-admin must be its PI and
// stay below its max_slices (0: none). Slices expire in 2 weeks by
// default; a non-admin may move the expiry at most 8 weeks ahead, and
// only for a slice with a description and a URL. An expired slice is gone
// from every Get* and from GetSlivers, and ExpireLoop bumps its nodes at
// that instant. Only admins and PIs change max_nodes; AddSliceToNodes
// refuses past it (and past the site's max_slivers).
//
// Shares: each site receives Options.SiteShares (1000) shares. Its PIs
// hand them to its slices as Slice.Shares (a new slice takes 1); the
// shares a site's live slices hold, less what they received from brokers,
// never exceed the site's. A delegated slice is a broker (made by a PI, it
// starts with 0 shares): only an admin
// gives it shares, outside any site's budget, and its users move them to
// other slices with DelegateShares (never more than it holds; the slice
// tag delegated_shares records what a slice received). A slice's shares
// become its slivers' cpu_shares (see SliverRspec for the whole
// translation into api.Rspec).
//
// Which slice tags exist, who may set them and what values they take is
// the resource table's (api.Resources, shown in docs/resources.md): tags
// that grant resources or privileges (cpu_share, cpu_pct, cpu_cap, net_*,
// disk_max, memory, as_hard, nproc_hard, openfd_hard, nm_controller,
// admin, ports, bind_slices, delegate_*) are set by admins only;
// initscript, enabled, vref and free-form tags by anyone who may change
// the slice. Number tags take non-negative integers within their bounds.
// Tags no Orbis node enforces (net_share, vsys, capabilities, other
// *_soft and *_hard) are refused. Privileges come from admin tags alone:
// the instantiation nm-controller, which a slice's users may set, is a
// label and grants nothing.
//
// Every change to what a node should run (slice membership, tags, users
// and their keys, expiry, shares, deletion, its leases and node_type)
// bumps the node's version in the same transaction and calls
// Options.OnChange after the commit.
//
// Reservable nodes run a slice's sliver only while the slice holds a
// lease there covering now: NodeSlivers lists the others with enabled=0
// (stopped, files kept, logins refused), and LeaseLoop bumps a node at
// each of its lease boundaries (see reservation.go).
//
// # The node channel
//
// NodeSlivers, ReportSlivers, NodeSecret, RegisterNode and Versions serve
// the push package: a node's list with its version, its reports, its
// HMAC key and its one-time registration. A missing node or secret is an
// error wrapping store.ErrNotFound; a bad registration token is fault 103.
package plc
