package nodemgr

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Defaults applied to an rspec's zero fields at acquire (paper 4.2.2). The
// memory and disk limits default to the node's (Node.DefaultMemoryMax and
// Node.DefaultDiskMax); guarantees default to none, Start to now and End to
// never.
const (
	DefaultCPUShares   = 1
	DefaultNetMinRate  = 5     // kbit/s
	DefaultNetMaxRate  = 10000 // kbit/s
	DefaultOpenFileMax = 1024
	DefaultProcMax     = 512
)

// Upper bounds of rspec fields, beyond which a value is an error rather
// than a request admission control could grant.
const (
	maxBytes      = 1 << 62
	maxCPUShares  = 1 << 18 // cgroup v1 cpu.shares maximum
	maxCPUGuar    = 1000    // the whole node
	maxProcs      = 1 << 22 // the kernel's PID_MAX_LIMIT
	maxOpenFiles  = 1 << 20 // the kernel's default nr_open
	maxNetRate    = 100_000_000
	maxPorts      = 256
	maxKeys       = 64
	maxKeyLen     = 8192
	maxSliceName  = 64
	maxImageName  = 64
	maxInitScript = 32 << 10
)

// checkRspec checks an rspec given to acquire and returns it with the
// node's defaults filled in.
func checkRspec(node Node, rs api.Rspec, now int64) (api.Rspec, error) {
	if err := checkRanges(node, rs); err != nil {
		return rs, err
	}
	fill(&rs.CPUShares, DefaultCPUShares)
	fill(&rs.MemoryMax, node.DefaultMemoryMax)
	fill(&rs.DiskMax, node.DefaultDiskMax)
	fill(&rs.ProcMax, DefaultProcMax)
	fill(&rs.OpenFileMax, DefaultOpenFileMax)
	fill(&rs.NetMinRate, DefaultNetMinRate)
	fill(&rs.NetMaxRate, max(DefaultNetMaxRate, rs.NetMinRate))
	fill(&rs.Start, now)
	if err := checkRelations(rs, now); err != nil {
		return rs, err
	}
	if err := checkDelegation(node, rs); err != nil {
		return rs, err
	}
	return cloneRspec(rs), nil
}

// checkDelegation checks an rspec's delegation: only for a slice with the
// node manager privilege, one level deep, with sane values. Admission
// control checks it when the pool is made, at bind.
func checkDelegation(node Node, rs api.Rspec) error {
	d := rs.Delegated
	switch {
	case rs.Slivers < 0:
		return invalidf("slivers: negative value %d", rs.Slivers)
	case d == nil:
		return nil
	case !rs.Privileges.NodeManager:
		return invalidf("delegated: only for an rspec with privileges.node_manager")
	case d.Delegated != nil:
		return invalidf("delegated.delegated: a delegation cannot delegate further")
	case d.Slivers < 0:
		return invalidf("delegated.slivers: negative value %d", d.Slivers)
	}
	if err := checkRanges(node, *d); err != nil {
		return invalidf("delegated.%v", err)
	}
	return nil
}

func fill(v *int64, def int64) {
	if *v == 0 {
		*v = def
	}
}

type field struct {
	name string
	v    int64
	max  int64
	what string // what max is, for the message
}

func fields(node Node, rs api.Rspec) []field {
	return []field{
		{"cpu_shares", rs.CPUShares, maxCPUShares, "the most the kernel accepts"},
		{"cpu_guarantee", rs.CPUGuarantee, maxCPUGuar, "the whole node"},
		{"memory_max", rs.MemoryMax, node.MemoryBytes, "the node's memory"},
		{"memory_guarantee", rs.MemoryGuarantee, node.MemoryBytes, "the node's memory"},
		{"disk_max", rs.DiskMax, node.DiskBytes, "the node's slice storage"},
		{"disk_guarantee", rs.DiskGuarantee, node.DiskBytes, "the node's slice storage"},
		{"proc_max", rs.ProcMax, maxProcs, "the kernel's limit"},
		{"openfile_max", rs.OpenFileMax, maxOpenFiles, "the kernel's limit"},
		{"net_min_rate", rs.NetMinRate, maxNetRate, "100 Gbit/s"},
		{"net_max_rate", rs.NetMaxRate, maxNetRate, "100 Gbit/s"},
		{"net_max_kbyte", rs.NetMaxKByte, maxBytes >> 10, "the most a day can carry"},
		{"net_thresh_kbyte", rs.NetThreshKByte, max(rs.NetMaxKByte, 0), "net_max_kbyte"},
		{"start", rs.Start, api.MaxTime, "year 9999"},
		{"end", rs.End, api.MaxTime, "year 9999"},
	}
}

// checkRanges refuses negative and out-of-range values and bad ports.
func checkRanges(node Node, rs api.Rspec) error {
	for _, f := range fields(node, rs) {
		switch {
		case f.v < 0:
			return invalidf("%s: negative value %d", f.name, f.v)
		case f.v > maxBytes:
			return invalidf("%s: %d is out of range (max %d)", f.name, f.v, int64(maxBytes))
		case f.v > f.max:
			return invalidf("%s: %d exceeds %s (%d)", f.name, f.v, f.what, f.max)
		}
	}
	return checkPorts(node, rs.Ports)
}

func checkPorts(node Node, ports []api.Port) error {
	if len(ports) > maxPorts {
		return invalidf("ports: %d ports (max %d)", len(ports), maxPorts)
	}
	seen := map[api.Port]bool{}
	for _, p := range ports {
		switch {
		case p.Proto != "tcp" && p.Proto != "udp":
			return invalidf("ports: proto %q (want tcp or udp)", p.Proto)
		case p.Port == 0:
			return invalidf("ports: %s port 0 cannot be reserved", p.Proto)
		case seen[p]:
			return invalidf("ports: %s/%d listed twice", p.Proto, p.Port)
		case node.EphemeralLow > 0 && p.Port >= node.EphemeralLow && p.Port <= node.EphemeralHigh:
			return invalidf("ports: %s/%d is in the node's ephemeral range %d-%d, which the kernel hands out to anyone: reserve a port outside it",
				p.Proto, p.Port, node.EphemeralLow, node.EphemeralHigh)
		case p.Port < 1024 && node.NoLowPorts:
			return invalidf("ports: %s/%d: this node cannot give ports below 1024 to slivers", p.Proto, p.Port)
		}
		seen[p] = true
	}
	return nil
}

// checkRelations checks what holds between fields once defaults are in.
func checkRelations(rs api.Rspec, now int64) error {
	switch {
	case rs.MemoryGuarantee > rs.MemoryMax:
		return invalidf("memory_guarantee: %d exceeds memory_max %d", rs.MemoryGuarantee, rs.MemoryMax)
	case rs.DiskGuarantee > rs.DiskMax:
		return invalidf("disk_guarantee: %d exceeds disk_max %d", rs.DiskGuarantee, rs.DiskMax)
	case rs.NetMinRate > rs.NetMaxRate:
		return invalidf("net_min_rate: %d exceeds net_max_rate %d", rs.NetMinRate, rs.NetMaxRate)
	case rs.CPUCap && rs.CPUGuarantee == 0:
		return invalidf("cpu_cap: set without a cpu_guarantee (it would cap the sliver at 0)")
	case rs.End != 0 && rs.End <= rs.Start:
		return invalidf("end: %d is not after start %d", rs.End, rs.Start)
	case rs.End != 0 && rs.End <= now:
		return invalidf("end: %d is in the past (now %d)", rs.End, now)
	}
	return nil
}

// sliceNameRE is PlanetLab's slice name: a site prefix, an underscore, a
// name. checkSliceName adds what paths, cgroup and host names need.
var sliceNameRE = regexp.MustCompile(`^[a-z0-9.]+_[a-zA-Z0-9_.]+$`)

func checkSliceName(name string) error {
	switch {
	case name == "":
		return invalidf("slice: empty name")
	case len(name) > maxSliceName:
		return invalidf("slice: name is %d characters (max %d)", len(name), maxSliceName)
	case !sliceNameRE.MatchString(name):
		return invalidf("slice: name %q is not site_name (want ^[a-z0-9.]+_[a-zA-Z0-9_.]+$)", name)
	case name[0] == '.' || strings.Contains(name, ".."):
		return invalidf("slice: name %q starts with a dot or contains \"..\"", name)
	}
	return nil
}

var imageRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

func checkAttrs(a api.BindAttrs) error {
	if a.Image != "" && (len(a.Image) > maxImageName || !imageRE.MatchString(a.Image)) {
		return invalidf("attrs.image: %q is not an image name (want ^[a-zA-Z0-9][a-zA-Z0-9._-]*$, max %d)", a.Image, maxImageName)
	}
	if len(a.InitScript) > maxInitScript {
		return invalidf("attrs.initscript: %d bytes (max %d)", len(a.InitScript), maxInitScript)
	}
	if strings.ContainsRune(a.InitScript, 0) {
		return invalidf("attrs.initscript: contains a NUL byte")
	}
	if len(a.Keys) > maxKeys {
		return invalidf("attrs.keys: %d keys (max %d)", len(a.Keys), maxKeys)
	}
	for i, k := range a.Keys {
		switch {
		case strings.TrimSpace(k) == "":
			return invalidf("attrs.keys[%d]: empty", i)
		case len(k) > maxKeyLen:
			return invalidf("attrs.keys[%d]: %d bytes (max %d)", i, len(k), maxKeyLen)
		case strings.ContainsAny(k, "\n\r\x00"):
			return invalidf("attrs.keys[%d]: must be one line", i)
		}
	}
	return nil
}

func clonePorts(p []api.Port) []api.Port {
	if len(p) == 0 {
		return nil
	}
	return append([]api.Port(nil), p...)
}

func portString(p api.Port) string { return fmt.Sprintf("%s/%d", p.Proto, p.Port) }
