package node

import (
	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/node/swinstall"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/shaping"
	"github.com/orbisproject/orbis/internal/sliver"
)

// An enforcement is what on this node enforces one enforcer of the
// resource table: the function of the component that applies it, so the
// registry names code that exists, not a description of it.
type enforcement struct {
	fn  any    // the function that enforces it
	how string // what it does with the resource
}

// enforcers are what on this node enforces each resource of the resource
// table (api.Resources names an enforcer for every field): a field whose
// enforcer is missing here is accepted by the node manager and enforced by
// nothing, which TestEveryEnforcerRegistered refuses. Adding a resource is
// one table entry plus its enforcer, registered here.
var enforcers = map[api.Enforcer]enforcement{
	api.EnforceCgroupCPU:    {sliver.CgroupResources, "the cpu weight of cpu_shares or cpu_guarantee, and the CFS quota of cpu_cap"},
	api.EnforceCgroupMemory: {sliver.CgroupResources, "memory.max and memory.low"},
	api.EnforceCgroupPids:   {sliver.CgroupResources, "pids.max"},
	api.EnforceRlimitNofile: {sliver.Rlimits, "RLIMIT_NOFILE of the sliver's processes"},
	api.EnforceDiskQuota:    {disk.Quota.SetLimit, "the quota of the writable layer"},
	api.EnforceDiskLedger:   {(*nodemgr.Manager).Acquire, "admission control's ledger of disk guarantees"},
	api.EnforceHTB:          {(*shaping.Shaper).Set, "the sliver's HTB class"},
	api.EnforceDailyCap:     {(*shaping.DailyLimiter).Check, "the daily byte cap lowering the HTB ceiling"},
	api.EnforcePorts:        {(*portmgr.Manager).Reserve, "the port manager's reservations"},
	api.EnforceLifetime:     {nodemgr.Open, "the expiry loop Open starts releases rcaps at their end"},
	api.EnforceBind:         {(*nodemgr.Manager).Bind, "bind checks create_sliver and bind_slices"},
	api.EnforceNMSocket:     {serveSliverNM, "the node manager's socket in the sliver"},
	api.EnforceAdminSocket:  {(*Node).startAdmin, "the admin service's socket in the sliver"},
	api.EnforcePool:         {(*nodemgr.Manager).Bind, "bind syncs the broker's pool rcap and counts its slivers"},
	api.EnforceInitScript:   {sliver.Files, "the boot script, run at every start"},
	api.EnforceEnabled:      {rm.Run, "the reconcile loop stops a sliver whose enabled tag is 0"},
	api.EnforceImage:        {(*rootfs.Store).Get, "the reference image of the sliver's root"},
	api.EnforceSoftware:     {swinstall.Run, "installs the slice's software (api.Sliver.Software) in its sliver"},
}
