package sliver

import (
	"context"

	"github.com/orbisproject/orbis/api"
)

// Network enforces the network part of slivers' rspecs (paper 4.3 and
// htb in 4.2.2): tagging and shaping each sliver's traffic, reserving its
// ports. The node agent provides it; nil means the node enforces none.
type Network interface {
	// SetSliver applies the whole desired state of one sliver; it is safe
	// to call again.
	SetSliver(ctx context.Context, s NetSliver) error
	// RemoveSliver undoes SetSliver; removing an unknown sliver succeeds.
	RemoveSliver(ctx context.Context, name string) error
}

// NetSliver is one sliver's network identity and rspec.
type NetSliver struct {
	Name string
	// UIDBase and UIDCount are the sliver's host UID range: its packets
	// carry these UIDs.
	UIDBase, UIDCount uint32
	// Cgroup is the absolute path of the sliver's cgroup v2 directory.
	Cgroup string
	// Index is a small number unique among the node's slivers, for class
	// ids and map keys.
	Index uint32
	// MinRate and MaxRate are the HTB rate and ceiling, kbit/s.
	MinRate, MaxRate int64
	// Ports are the transport ports reserved for the slice.
	Ports []api.Port
	// DailyMaxKB and DailyThreshKB are the daily byte cap (0: none).
	DailyMaxKB, DailyThreshKB int64
}

// netSliver is the network view of a sliver.
func (m *Manager) netSliver(s Spec) NetSliver {
	return NetSliver{
		Name:     s.Name,
		UIDBase:  s.UIDBase,
		UIDCount: s.UIDCount,
		Cgroup:   m.cgroupsOf(s).UnifiedPath(s.Name),
		// UID ranges are 65536 wide and never overlap, so their 64 Ki
		// blocks number the slivers uniquely.
		Index:         s.UIDBase/65536%32000 + 1,
		MinRate:       s.Rspec.NetMinRate,
		MaxRate:       s.Rspec.NetMaxRate,
		Ports:         s.Rspec.Ports,
		DailyMaxKB:    s.Rspec.NetMaxKByte,
		DailyThreshKB: s.Rspec.NetThreshKByte,
	}
}
