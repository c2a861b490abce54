package api

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// The resource contract: every field of an Rspec, the slice tags central
// turns into it, their units, defaults, bounds, who may set them and what
// on the node enforces them, in one table (Resources). Central's tag
// checks and SliverRspec, the node manager's checks and docs/resources.md
// are all read from it: adding a resource is one entry here plus its
// enforcer on the node.

// A Kind is what a resource is to admission control and to its enforcer.
type Kind string

// Kinds of resource.
const (
	// Share is a proportional weight among the node's slivers.
	Share Kind = "share"
	// Guarantee is reserved: the guarantees of all live rcaps on a node
	// never sum above the node's capacity (admission control).
	Guarantee Kind = "guarantee"
	// Limit is a ceiling the sliver cannot pass.
	Limit Kind = "limit"
	// Flag is a yes/no switch or privilege.
	Flag Kind = "flag"
	// List is a set of names or ports, each reserved or granted.
	List Kind = "list"
	// Time bounds the interval an rspec applies to (Unix seconds).
	Time Kind = "time"
	// Pool is a broker's delegation: a nested rspec it hands out.
	Pool Kind = "pool"
	// Text is a tag that sets no rspec field, only an attribute.
	Text Kind = "text"
)

// An Enforcer names what on a node enforces a resource. The node
// registers one for every name the table uses.
type Enforcer string

// Enforcers named by the table.
const (
	EnforceCgroupCPU    Enforcer = "cgroup cpu"       // weights, guaranteed weight, CFS quota
	EnforceCgroupMemory Enforcer = "cgroup memory"    // memory.max and memory.low
	EnforceCgroupPids   Enforcer = "cgroup pids"      // pids.max
	EnforceRlimitNofile Enforcer = "rlimit nofile"    // RLIMIT_NOFILE of the sliver's processes
	EnforceDiskQuota    Enforcer = "disk quota"       // the writable layer's quota
	EnforceDiskLedger   Enforcer = "disk admission"   // the node manager's ledger of disk guarantees
	EnforceHTB          Enforcer = "htb"              // the sliver's HTB class: rate and ceil
	EnforceDailyCap     Enforcer = "daily cap"        // the ceiling drops past a day's threshold
	EnforcePorts        Enforcer = "port reservation" // the node's port manager
	EnforceLifetime     Enforcer = "rcap lifetime"    // the node manager expires rcaps
	EnforceBind         Enforcer = "nm bind"          // the node manager's bind
	EnforceNMSocket     Enforcer = "nm socket"        // the node manager's socket in the sliver
	EnforceAdminSocket  Enforcer = "admin socket"     // the admin service's socket in the sliver
	EnforcePool         Enforcer = "nm pool"          // the broker's pool rcap
	EnforceInitScript   Enforcer = "initscript"       // the sliver's boot script
	EnforceEnabled      Enforcer = "sliver enabled"   // stop the sliver and refuse logins
	EnforceImage        Enforcer = "sliver image"     // the sliver's reference image
	EnforceSoftware     Enforcer = "sliver software"  // the node installs the slice's software
)

// A Tag is a slice tag that sets a resource, in its own unit.
type Tag struct {
	Name string
	// Unit of the tag's value, and Scale the rspec units in one of it
	// (1024 for a tag in KB of a field in bytes).
	Unit  string
	Scale int64
	// Max is the largest value, in the tag's unit; 0: the resource's Max
	// divided by Scale.
	Max int64
}

// A Resource is one field of an Rspec.
type Resource struct {
	// Name is the field's JSON name in an Rspec ("privileges.admin" for a
	// field of Rspec.Privileges).
	Name string
	Kind Kind
	// Unit of the rspec field.
	Unit string
	// Tags set the field, the first one set winning; none: central never
	// sets it.
	Tags []Tag
	// DelegateTag sets the field of a broker's pool (Rspec.Delegated), in
	// the unit of Tags[0].
	DelegateTag string
	// Role is the least trusted role that may set Tags and DelegateTag
	// (RoleAdmin: only admins; RoleUser: anyone who may change the
	// slice); 0 for a field no tag sets.
	Role int
	// Default is what a zero field means: central writes it into every
	// rspec and the node fills a zero field with it. With NodeDefault, a
	// zero field means the node's own default instead.
	Default     int64
	NodeDefault bool
	// Min and Max bound the field, in its unit.
	Min, Max int64
	// AtMost names the resource this one may not exceed, once defaults are
	// in; Raise says central repairs a pair that does not hold by raising
	// the other (else by lowering this one).
	AtMost string
	Raise  bool
	// Requires names the resource that must be non-zero for this flag.
	Requires string
	// Enforcer is what enforces the field on the node.
	Enforcer Enforcer
	// Doc says what the field is, for docs/resources.md.
	Doc string

	// num and flag point at the field in an rspec (one of them is set for
	// a number or flag resource).
	num  func(*Rspec) *int64
	flag func(*Rspec) *bool
}

// Bounds used by the table.
const (
	// MaxQuantity bounds every count, size and rate: far above any node,
	// far below overflow when scaled.
	MaxQuantity = 1 << 62
	// MaxCPUShares is the most cgroup v1 cpu.shares accepts.
	MaxCPUShares = 1 << 18
	// MaxCPUGuarantee is the whole node, in thousandths.
	MaxCPUGuarantee = 1000
	// MaxProcs is the kernel's PID_MAX_LIMIT.
	MaxProcs = 1 << 22
	// MaxOpenFiles is the kernel's default nr_open.
	MaxOpenFiles = 1 << 20
	// MaxNetRate is 100 Gbit/s, in kbit/s.
	MaxNetRate = 100_000_000
	// MaxPorts is the most ports one rspec reserves.
	MaxPorts = 256
	// MaxBindSlices is the most slice names one broker is given.
	MaxBindSlices = 1024
	// MaxInitScript is the longest initscript, in bytes.
	MaxInitScript = 32 << 10
)

// Resources is the table, in Rspec's order.
var Resources = []Resource{
	{Name: "cpu_shares", Kind: Share, Unit: "shares", Tags: []Tag{{Name: "cpu_share", Unit: "shares", Scale: 1}},
		DelegateTag: "delegate_cpu_shares", Role: RoleAdmin, Default: 1, Max: MaxCPUShares, Enforcer: EnforceCgroupCPU,
		Doc: "proportional share of the CPU among active slivers; central's default is the slice's shares",
		num: func(r *Rspec) *int64 { return &r.CPUShares }},
	{Name: "cpu_guarantee", Kind: Guarantee, Unit: "‰ of the node", Tags: []Tag{{Name: "cpu_pct", Unit: "% of the node", Scale: 10, Max: 100}},
		DelegateTag: "delegate_cpu_pct", Role: RoleAdmin, Max: MaxCPUGuarantee, Enforcer: EnforceCgroupCPU,
		Doc: "CPU reserved for the sliver (1000 = every core)",
		num: func(r *Rspec) *int64 { return &r.CPUGuarantee }},
	{Name: "cpu_cap", Kind: Flag, Tags: []Tag{{Name: "cpu_cap", Scale: 1, Max: 1}}, Role: RoleAdmin, Max: 1,
		Requires: "cpu_guarantee", Enforcer: EnforceCgroupCPU,
		Doc:  "hold the sliver at its guarantee instead of sharing the excess",
		flag: func(r *Rspec) *bool { return &r.CPUCap }},
	{Name: "memory_max", Kind: Limit, Unit: "bytes",
		Tags:        []Tag{{Name: "memory", Unit: "MB", Scale: 1 << 20}, {Name: "as_hard", Unit: "bytes", Scale: 1}},
		DelegateTag: "delegate_memory_max", Role: RoleAdmin, NodeDefault: true, Max: MaxQuantity, Enforcer: EnforceCgroupMemory,
		Doc: "memory limit; past it the kernel reclaims, then kills inside the sliver only",
		num: func(r *Rspec) *int64 { return &r.MemoryMax }},
	{Name: "memory_guarantee", Kind: Guarantee, Unit: "bytes", Max: MaxQuantity, AtMost: "memory_max", Enforcer: EnforceCgroupMemory,
		Doc: "memory reserved for the sliver (memory.low)",
		num: func(r *Rspec) *int64 { return &r.MemoryGuarantee }},
	{Name: "disk_max", Kind: Limit, Unit: "bytes", Tags: []Tag{{Name: "disk_max", Unit: "KB", Scale: 1024}},
		DelegateTag: "delegate_disk_max", Role: RoleAdmin, NodeDefault: true, Max: MaxQuantity, Enforcer: EnforceDiskQuota,
		Doc: "quota of the sliver's writable layer",
		num: func(r *Rspec) *int64 { return &r.DiskMax }},
	{Name: "disk_guarantee", Kind: Guarantee, Unit: "bytes", Max: MaxQuantity, AtMost: "disk_max", Enforcer: EnforceDiskLedger,
		Doc: "disk reserved for the sliver out of the node's slice storage",
		num: func(r *Rspec) *int64 { return &r.DiskGuarantee }},
	{Name: "proc_max", Kind: Limit, Unit: "processes", Tags: []Tag{{Name: "nproc_hard", Unit: "processes", Scale: 1}},
		Role: RoleAdmin, NodeDefault: true, Max: MaxProcs, Enforcer: EnforceCgroupPids,
		Doc: "processes and threads in the sliver",
		num: func(r *Rspec) *int64 { return &r.ProcMax }},
	{Name: "openfile_max", Kind: Limit, Unit: "files", Tags: []Tag{{Name: "openfd_hard", Unit: "files", Scale: 1}},
		Role: RoleAdmin, NodeDefault: true, Max: MaxOpenFiles, Enforcer: EnforceRlimitNofile,
		Doc: "open files of each process in the sliver",
		num: func(r *Rspec) *int64 { return &r.OpenFileMax }},
	{Name: "net_min_rate", Kind: Guarantee, Unit: "kbit/s", Tags: []Tag{{Name: "net_min_rate", Unit: "kbit/s", Scale: 1}},
		Role: RoleAdmin, Default: 5, Max: MaxNetRate, AtMost: "net_max_rate", Raise: true, Enforcer: EnforceHTB,
		Doc: "the sliver's guaranteed HTB rate (0 in a tag: the default)",
		num: func(r *Rspec) *int64 { return &r.NetMinRate }},
	{Name: "net_max_rate", Kind: Limit, Unit: "kbit/s", Tags: []Tag{{Name: "net_max_rate", Unit: "kbit/s", Scale: 1}},
		DelegateTag: "delegate_net_max_rate", Role: RoleAdmin, Default: 10000, Max: MaxNetRate, Enforcer: EnforceHTB,
		Doc: "the sliver's HTB ceiling (0 in a tag: the default)",
		num: func(r *Rspec) *int64 { return &r.NetMaxRate }},
	{Name: "net_max_kbyte", Kind: Limit, Unit: "KB/day", Tags: []Tag{{Name: "net_max_kbyte", Unit: "KB/day", Scale: 1}},
		Role: RoleAdmin, Max: MaxQuantity >> 10, Enforcer: EnforceDailyCap,
		Doc: "most a sliver sends in a day (UTC); 0: no cap",
		num: func(r *Rspec) *int64 { return &r.NetMaxKByte }},
	{Name: "net_thresh_kbyte", Kind: Limit, Unit: "KB/day", Tags: []Tag{{Name: "net_thresh_kbyte", Unit: "KB/day", Scale: 1}},
		Role: RoleAdmin, Max: MaxQuantity >> 10, AtMost: "net_max_kbyte", Enforcer: EnforceDailyCap,
		Doc: "past this in a day the ceiling drops so the day fits under net_max_kbyte",
		num: func(r *Rspec) *int64 { return &r.NetThreshKByte }},
	{Name: "ports", Kind: List, Unit: "tcp/PORT,udp/PORT", Tags: []Tag{{Name: "ports"}}, Role: RoleAdmin, Max: MaxPorts,
		Enforcer: EnforcePorts, Doc: "TCP and UDP ports reserved for the slice on the node"},
	{Name: "start", Kind: Time, Unit: "Unix seconds", Max: MaxTime, Enforcer: EnforceLifetime,
		Doc: "when the rspec starts (0: now)",
		num: func(r *Rspec) *int64 { return &r.Start }},
	{Name: "end", Kind: Time, Unit: "Unix seconds", Max: MaxTime, Enforcer: EnforceLifetime,
		Doc: "when the rspec ends (0: never); central sends the slice's expiry",
		num: func(r *Rspec) *int64 { return &r.End }},
	{Name: "privileges.create_sliver", Kind: Flag, Max: 1, Enforcer: EnforceBind,
		Doc:  "the right to bind the rcap to a slice; central always grants it",
		flag: func(r *Rspec) *bool { return &r.Privileges.CreateSliver }},
	{Name: "privileges.node_manager", Kind: Flag, Tags: []Tag{{Name: "nm_controller", Scale: 1, Max: 1}}, Role: RoleAdmin, Max: 1,
		Enforcer: EnforceNMSocket, Doc: "the sliver may call the node manager within its rcaps",
		flag: func(r *Rspec) *bool { return &r.Privileges.NodeManager }},
	{Name: "privileges.admin", Kind: Flag, Tags: []Tag{{Name: "admin", Scale: 1, Max: 1}}, Role: RoleAdmin, Max: 1,
		Enforcer: EnforceAdminSocket, Doc: "the site's admin slice, on its own site's nodes only",
		flag: func(r *Rspec) *bool { return &r.Privileges.Admin }},
	{Name: "delegated", Kind: Pool, Requires: "privileges.node_manager", Enforcer: EnforcePool,
		Doc: "a broker's pool: the delegate_* tags, made when delegate_slivers > 0"},
	{Name: "slivers", Kind: Limit, Unit: "slivers", DelegateTag: "delegate_slivers", Role: RoleAdmin, Max: MaxQuantity,
		Enforcer: EnforcePool, Doc: "in a pool: how many slivers may be bound from it at once",
		num: func(r *Rspec) *int64 { return &r.Slivers }},
	{Name: "bind_slices", Kind: List, Unit: "slice names", Tags: []Tag{{Name: "bind_slices"}}, Role: RoleAdmin,
		Max: MaxBindSlices, Requires: "privileges.node_manager", Enforcer: EnforceBind,
		Doc: "the slices besides its own a broker may bind rcaps to"},
}

// Errors of Validate and of slice tags, wrapped in a *FieldError.
var (
	// ErrOutOfRange: a value below Min or above Max.
	ErrOutOfRange = errors.New("out of range")
	// ErrPair: a value above the one it may not exceed, or a flag
	// without what it requires.
	ErrPair = errors.New("inconsistent with another field")
	// ErrTagValue: a tag value that does not parse.
	ErrTagValue = errors.New("bad tag value")
	// ErrTagRefused: a tag nothing on a node enforces.
	ErrTagRefused = errors.New("tag not supported")
)

// A FieldError is a refused rspec field or slice tag.
type FieldError struct {
	Field string // the JSON name or the tag name
	Err   error  // one of the errors above
	Msg   string
}

// Error says which field and what is wrong with it.
func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Unwrap returns the kind of error, one of the Err values above.
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErrorf(field string, err error, format string, args ...any) error {
	return &FieldError{Field: field, Err: err, Msg: fmt.Sprintf(format, args...)}
}

var resourceIndex = sync.OnceValue(func() map[string]*Resource {
	idx := make(map[string]*Resource, len(Resources))
	for i := range Resources {
		idx[Resources[i].Name] = &Resources[i]
	}
	return idx
})

// ResourceByName returns the entry of a JSON name, or nil.
func ResourceByName(name string) *Resource { return resourceIndex()[name] }

// IsNumber reports whether Get and Set read and write the field (a
// number or a flag); lists and the pool have their own fields.
func (r *Resource) IsNumber() bool { return r.num != nil || r.flag != nil }

// Get returns the field's value in rs; a flag reads 0 or 1, a list its
// length, the pool 1 when there is one.
func (r *Resource) Get(rs *Rspec) int64 {
	switch {
	case r.num != nil:
		return *r.num(rs)
	case r.flag != nil:
		if *r.flag(rs) {
			return 1
		}
		return 0
	case r.Name == "ports":
		return int64(len(rs.Ports))
	case r.Name == "bind_slices":
		return int64(len(rs.BindSlices))
	case r.Name == "delegated" && rs.Delegated != nil:
		return 1
	}
	return 0
}

// Set writes a number or flag field (any non-zero v sets a flag); it does
// nothing for a list or the pool.
func (r *Resource) Set(rs *Rspec, v int64) {
	switch {
	case r.num != nil:
		*r.num(rs) = v
	case r.flag != nil:
		*r.flag(rs) = v != 0
	}
}

// Validate checks every field of rs against its bounds (for a list, its
// length and entries), and the pairs and requirements between them, once: a zero field that stands for a default
// (Default or NodeDefault) is not compared, so the node validates again
// after filling its defaults. It checks rs.Delegated the same way.
func Validate(rs *Rspec) error {
	if err := validate(rs); err != nil {
		return err
	}
	if rs.Delegated != nil {
		if err := validate(rs.Delegated); err != nil {
			return fmt.Errorf("delegated.%w", err)
		}
	}
	return nil
}

func validate(rs *Rspec) error {
	for i := range Resources {
		r := &Resources[i]
		v := r.Get(rs)
		if v < r.Min || (r.Max > 0 && v > r.Max) {
			return fieldErrorf(r.Name, ErrOutOfRange, "%d is out of range (%d to %d %s)", v, r.Min, r.Max, r.Unit)
		}
	}
	for i := range Resources {
		if err := Resources[i].checkPair(rs); err != nil {
			return err
		}
	}
	return checkLists(rs)
}

// checkLists checks the entries of the list fields: ports tcp or udp, not
// 0, none twice; bind_slices slice names.
func checkLists(rs *Rspec) error {
	seen := map[Port]bool{}
	for _, p := range rs.Ports {
		switch {
		case p.Proto != "tcp" && p.Proto != "udp":
			return fieldErrorf("ports", ErrOutOfRange, "proto %q (want tcp or udp)", p.Proto)
		case p.Port == 0:
			return fieldErrorf("ports", ErrOutOfRange, "%s port 0 cannot be reserved", p.Proto)
		case seen[p]:
			return fieldErrorf("ports", ErrOutOfRange, "%s/%d listed twice", p.Proto, p.Port)
		}
		seen[p] = true
	}
	for _, n := range rs.BindSlices {
		if _, err := ParseSliceName(n); err != nil {
			return fieldErrorf("bind_slices", ErrOutOfRange, "%v", err)
		}
	}
	return nil
}

// checkPair checks r's AtMost and Requires in rs.
func (r *Resource) checkPair(rs *Rspec) error {
	if r.AtMost != "" {
		up := ResourceByName(r.AtMost)
		v, limit := r.Get(rs), up.Get(rs)
		defaulted := limit == 0 && (up.Default != 0 || up.NodeDefault)
		if v > limit && !defaulted {
			return fieldErrorf(r.Name, ErrPair, "%d exceeds %s %d", v, up.Name, limit)
		}
	}
	if r.Requires != "" && r.Get(rs) != 0 && ResourceByName(r.Requires).Get(rs) == 0 {
		return fieldErrorf(r.Name, ErrPair, "set without %s", r.Requires)
	}
	return nil
}

// FillDefaults sets every zero field that has a Default.
func FillDefaults(rs *Rspec) {
	for i := range Resources {
		if r := &Resources[i]; r.Default != 0 && r.Get(rs) == 0 {
			r.Set(rs, r.Default)
		}
	}
}

// Repair makes the number pairs and flag requirements of rs hold as
// central does for tags, which are set one at a time: it raises the upper
// field of a pair marked Raise, else lowers the lower one, and clears a
// flag whose requirement is zero.
func Repair(rs *Rspec) {
	for i := range Resources {
		r := &Resources[i]
		if r.AtMost != "" {
			up := ResourceByName(r.AtMost)
			v, limit := r.Get(rs), up.Get(rs)
			switch {
			case v <= limit:
			case r.Raise:
				up.Set(rs, v)
			default:
				r.Set(rs, limit)
			}
		}
		if r.flag != nil && r.Requires != "" && ResourceByName(r.Requires).Get(rs) == 0 {
			r.Set(rs, 0)
		}
	}
}

// mulSat multiplies non-negative numbers without overflowing.
func mulSat(a, b int64) int64 {
	if b != 0 && a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}
