package node

import "github.com/orbisproject/orbis/api"

// enforcers are what on this node enforces each resource of the resource
// table (api.Resources names an enforcer for every field): a field whose
// enforcer is missing here is accepted by the node manager and enforced by
// nothing, which TestEveryEnforcerRegistered refuses. Adding a resource is
// one table entry plus its enforcer, registered here.
var enforcers = map[api.Enforcer]string{
	api.EnforceCgroupCPU:    "internal/sliver: the cpu weight of cpu_shares or cpu_guarantee, and the CFS quota of cpu_cap (Manager.resources)",
	api.EnforceCgroupMemory: "internal/sliver: memory.max and memory.low (Manager.resources)",
	api.EnforceCgroupPids:   "internal/sliver: pids.max (Manager.resources)",
	api.EnforceRlimitNofile: "internal/sliver: RLIMIT_NOFILE of the sliver's processes",
	api.EnforceDiskQuota:    "internal/sliver: the quota of the writable layer (Options.Disk)",
	api.EnforceDiskLedger:   "internal/nodemgr: admission control's ledger of disk guarantees",
	api.EnforceHTB:          "internal/node network: the sliver's HTB class (internal/shaping)",
	api.EnforceDailyCap:     "internal/node network: the daily byte cap lowering the HTB ceiling",
	api.EnforcePorts:        "internal/node network: the port manager's reservations",
	api.EnforceLifetime:     "internal/nodemgr: the expiry loop releases rcaps at their end",
	api.EnforceBind:         "internal/nodemgr: bind checks create_sliver and bind_slices",
	api.EnforceNMSocket:     "internal/node: the node manager's socket in the sliver (serveSliverNM)",
	api.EnforceAdminSocket:  "internal/node: the admin service's socket in the sliver (startAdmin)",
	api.EnforcePool:         "internal/nodemgr: the broker's pool rcap and its sliver count",
	api.EnforceInitScript:   "internal/sliver: the boot script run at every start",
	api.EnforceEnabled:      "internal/node/rm: stops a sliver whose enabled tag is 0",
	api.EnforceImage:        "internal/sliver: the reference image of the sliver's root",
	api.EnforceSoftware:     "internal/node/swinstall: installs the slice's software (api.Sliver.Software) in its sliver",
}
