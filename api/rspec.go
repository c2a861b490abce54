package api

// An Rspec describes a slice's resource reservations, limits, name-space
// assignments and privileges on one node over a time interval (paper 4.2.1).
// The node manager stores it behind an rcap.
//
// Zero means "the node's default" for every limit; guarantees default to none.
// Units are chosen so that every field is an integer a person can read.
type Rspec struct {
	// CPUShares is the sliver's proportional share of the CPU among active
	// slivers (PlanetLab's cpu_share). Default 1.
	CPUShares int64 `json:"cpu_shares,omitempty"`
	// CPUGuarantee is reserved CPU in thousandths of the whole node (1000 =
	// every core). The guarantees of all live rcaps never sum above 1000.
	CPUGuarantee int64 `json:"cpu_guarantee,omitempty"`
	// CPUCap limits the sliver to its guarantee instead of letting it share
	// the excess (the paper's switch, 4.2.2).
	CPUCap bool `json:"cpu_cap,omitempty"`

	// MemoryMax is the sliver's memory limit in bytes; past it the kernel
	// reclaims and then kills inside the sliver only.
	MemoryMax int64 `json:"memory_max,omitempty"`
	// MemoryGuarantee is memory in bytes reserved for the sliver; the
	// guarantees of all live rcaps never exceed the node's memory.
	MemoryGuarantee int64 `json:"memory_guarantee,omitempty"`

	// DiskMax is the quota, in bytes, of the sliver's writable layer.
	DiskMax int64 `json:"disk_max,omitempty"`
	// DiskGuarantee is disk in bytes reserved for the sliver; the
	// guarantees of all live rcaps never exceed the node's slice storage.
	DiskGuarantee int64 `json:"disk_guarantee,omitempty"`

	// ProcMax bounds the number of processes (and threads) in the sliver.
	ProcMax int64 `json:"proc_max,omitempty"`
	// OpenFileMax bounds the open files of each process in the sliver
	// (RLIMIT_NOFILE).
	OpenFileMax int64 `json:"openfile_max,omitempty"`

	// NetMinRate and NetMaxRate are the sliver's HTB rate and ceiling in
	// kbit/s (paper defaults 5 kbit/s and 10 Mbit/s).
	NetMinRate int64 `json:"net_min_rate,omitempty"`
	NetMaxRate int64 `json:"net_max_rate,omitempty"`
	// NetMaxKByte and NetThreshKByte are PlanetLab's daily byte cap: past
	// NetThreshKByte KB sent in a day (UTC), the sliver's ceiling drops so
	// that the day's total fits under NetMaxKByte. 0: no cap.
	NetMaxKByte    int64 `json:"net_max_kbyte,omitempty"`
	NetThreshKByte int64 `json:"net_thresh_kbyte,omitempty"`
	// Ports are TCP/UDP ports reserved for the slice on this node.
	Ports []Port `json:"ports,omitempty"`

	// Start and End bound the interval the rspec applies to, in Unix
	// seconds, at most MaxTime. Start 0 means now; End 0 means no end.
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`

	// Privileges granted with the rspec.
	Privileges Privileges `json:"privileges,omitempty"`

	// Delegated, for a slice with Privileges.NodeManager, is what the
	// slice may hand out on this node: a broker's delegation from central.
	// When the node manager binds such a sliver it gives the slice a pool
	// rcap with this rspec (see RcapInfo.Pool), replaced when the
	// delegation changes and released with the slice.
	Delegated *Rspec `json:"delegated,omitempty"`
	// Slivers, in a pool (delegated) rspec, is how many slivers may be
	// bound from the pool and its splits at once (0: none).
	Slivers int64 `json:"slivers,omitempty"`
}

// A Port is one reserved transport port.
type Port struct {
	Proto string `json:"proto"` // "tcp" or "udp"
	Port  uint16 `json:"port"`
}

// Privileges are the rights an rspec carries beyond plain resources.
type Privileges struct {
	// CreateSliver is the right to bind the rcap to a slice, creating its
	// sliver (paper 4.2.1: bind requires it).
	CreateSliver bool `json:"create_sliver,omitempty"`
	// NodeManager lets the sliver reach the node manager's socket and call
	// it within the rcaps it holds (a privileged slice, paper 2.3).
	NodeManager bool `json:"node_manager,omitempty"`
	// Admin marks the site's admin slice (paper 4.1.2): its slivers find
	// the admin service at /run/orbis-admin/admin.sock.
	Admin bool `json:"admin,omitempty"`
}

// An Rcap is a resource capability: 128 random bits in lower-case hex, the
// knowledge of which gives the right to the resources of its rspec.
type Rcap string

// MaxTime is the latest time Orbis takes, in Unix seconds:
// 9999-12-31T23:59:59Z, the last a four-digit year (and XML-RPC's
// dateTime.iso8601) can write. Central refuses a slice expiring later, and
// node managers an rspec starting or ending later.
const MaxTime = 253402300799
