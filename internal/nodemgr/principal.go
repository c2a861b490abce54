package nodemgr

import (
	"context"
	"math"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Principals: who calls. Every rcap has an owner principal, and only its
// owner may use it.
const (
	// principalCentral is a caller with host uid 0: the node agent's
	// resource manager (central's), or the operator's `orbis nm`.
	principalCentral = "central"
	// slicePrefix begins the principal of a slice: "slice:<name>", a
	// caller whose host uid lies in the slice's UID range.
	slicePrefix = "slice:"
)

// noPeerUID is recorded for a connection whose peer credentials could not
// be read: it is neither root nor in any slice's range, so it is refused.
const noPeerUID = math.MaxUint32

func slicePrincipal(name string) string { return slicePrefix + name }

// sliceOf returns the slice name of principal p, or "" for central.
func sliceOf(p string) string { return strings.TrimPrefix(p, slicePrefix) }

// principalOf names the caller of ctx. A request that came through Serve
// carries the peer's credentials: uid 0 is central, a uid in a sliver's
// range is that slice, which must hold privileges.node_manager in its
// current rspec; anyone else is refused. A call made in-process, with no
// credentials, is the node's own and acts as central.
func (m *Manager) principalOfLocked(ctx context.Context) (string, error) {
	peer, ok := PeerFromContext(ctx)
	if !ok || peer.UID == 0 {
		return principalCentral, nil
	}
	slice := m.sliceOfUID(peer.UID)
	if slice == "" {
		return "", deniedf("node manager: uid %d is neither root nor in a slice of this node", peer.UID)
	}
	s, r := m.sliverRcap(slice)
	if s.State == sliverDestroying || r == nil || !r.Rspec.Privileges.NodeManager {
		return "", deniedf("node manager: slice %s lacks privileges.node_manager", slice)
	}
	return slicePrincipal(slice), nil
}

// ownedLocked returns the live rcap rc names if principal owns it; to
// anyone else it is as unknown as a made-up one.
func (m *Manager) ownedLocked(principal string, rc api.Rcap) (*rcapRecord, error) {
	r, err := m.lookupLocked(rc)
	if err != nil {
		return nil, err
	}
	if r.Owner != principal {
		m.log.Warn("rcap refused: not the caller's", "rcap", r.Hash.id(), "principal", principal, "owner", r.Owner)
		return nil, deniedf("rcap refused: it is not yours (%s)", principal)
	}
	return r, nil
}

// callerLocked names the caller and checks that it may use rc.
func (m *Manager) callerLocked(ctx context.Context, rc api.Rcap) (string, *rcapRecord, error) {
	p, err := m.principalOfLocked(ctx)
	if err != nil {
		return "", nil, err
	}
	r, err := m.ownedLocked(p, rc)
	return p, r, err
}

// mayTouchSliverLocked says whether principal may start, stop, destroy or
// bind over the sliver of slice: central always; a slice only a sliver
// bound to an rcap it owns.
func (m *Manager) mayTouchSliverLocked(principal, slice string) error {
	if principal == principalCentral {
		return nil
	}
	s := m.sliver(slice)
	if s == nil {
		return nil
	}
	if r := m.rcap(s.Rcap); r != nil && r.Owner == principal {
		return nil
	}
	return deniedf("slice %s: its sliver is bound to an rcap that is not yours (%s)", slice, principal)
}

// roomForLocked refuses one more rcap for principal p when p is a slice
// that made maxSliceRcaps live ones already (acquired or split them,
// whoever holds them now: rcaps passed to it do not count, so no one can
// fill its room). Central is not bounded. The count walks every rcap,
// which only a slice's call pays for.
func (m *Manager) roomForLocked(p string) error {
	if p == principalCentral {
		return nil
	}
	n := m.countRcaps(func(r *rcapRecord) bool { return r.Maker == p })
	if n >= m.maxSliceRcaps {
		return refusedf("rcaps: %s made %d that are live, the most a slice may on this node: release some first", p, n)
	}
	return nil
}
