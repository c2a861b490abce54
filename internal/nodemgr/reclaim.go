package nodemgr

import (
	"context"
	"strings"
)

// An rcap a slice owns works only while that slice has a sliver here: a
// slice calls the node manager from its sliver, as its UID range tells.
// And whatever a broker holds derives from its delegation or its
// privilege. So when a slice's sliver is destroyed (central removed the
// slice, or whoever bound it destroyed it, or its rcap expired), or its
// rspec loses privileges.node_manager, releaseStranded releases its pool
// with the rcaps split from it (whoever holds them), every rcap it
// acquired (with their splits, wherever bound), and, its sliver gone,
// every other rcap it owns that is not bound to a live sliver. Pass never
// hands an rcap to a slice without a sliver, and the operator can reclaim
// any rcap.

// releaseStranded releases the pool of every broker that has no sliver
// (with the rcaps split from it), and every other rcap owned by a slice
// that has no sliver, unless a live sliver is bound to it. A release
// destroys slivers, whose teardowns call it again: those calls only ask
// the sweep under way for another round. A failure is logged; the sweep
// at the next teardown or Open tries again.
func (m *Manager) releaseStranded(ctx context.Context) {
	m.mu.Lock()
	if m.sweeping {
		m.sweepAgain = true
		m.mu.Unlock()
		return
	}
	m.sweeping = true
	m.mu.Unlock()
	for round := 1; ; round++ {
		m.releaseSome(ctx)
		m.mu.Lock()
		again := m.sweepAgain && round < maxSweeps
		m.sweepAgain = false
		if !again {
			m.sweeping = false
			m.mu.Unlock()
			return
		}
		m.mu.Unlock()
	}
}

// maxSweeps bounds the rounds of one releaseStranded.
const maxSweeps = 8

// releaseSome releases what stranded finds.
func (m *Manager) releaseSome(ctx context.Context) {
	pools, rcaps := m.stranded()
	for _, slice := range pools {
		if err := m.releasePool(ctx, slice, "its broker has no sliver"); err != nil {
			m.log.Error("release a pool whose broker is gone", "slice", slice, "err", err)
		}
	}
	for _, h := range rcaps {
		if err := m.releaseHash(ctx, h, "released: its owner has no sliver"); err != nil {
			m.log.Error("release an rcap whose owner has no sliver", "rcap", h.id(), "err", err)
		}
	}
}

// stranded returns the brokers without a sliver that still have a pool
// (whoever the pool was passed to: it is the broker's delegation), and
// the rcaps to release but for those pools and the rcaps split from
// them: the unbound rcaps owned by slices without a sliver, and every
// rcap a broker acquired (and the rcaps split from it, wherever passed
// and bound) once the broker lost its sliver or its node manager
// privilege, from which they derive.
func (m *Manager) stranded() (pools []string, rcaps []rcapHash) {
	m.mu.Lock()
	defer m.mu.Unlock()
	gone := func(r *rcapRecord) bool {
		owner := r.Owner
		return owner != principalCentral && m.sliver(sliceOf(owner)) == nil
	}
	goingPools := map[string]bool{}
	for slice, h := range m.poolList() {
		if m.sliver(slice) == nil {
			pools = append(pools, slice)
			goingPools[h.String()] = true
		}
	}
	for _, r := range m.rcapList() {
		if goingPools[r.Pool] {
			continue
		}
		if _, bound := m.bindingOf(r.Hash); !bound && gone(r) || m.unprivilegedLocked(r.Account) {
			rcaps = append(rcaps, r.Hash)
		}
	}
	return pools, rcaps
}

// unprivilegedLocked says whether account is a slice that no longer
// holds what let it acquire: a live sliver whose rspec grants
// privileges.node_manager.
func (m *Manager) unprivilegedLocked(account string) bool {
	if account == principalCentral {
		return false
	}
	s := m.sliver(sliceOf(account))
	if s == nil || s.State == sliverDestroying {
		return true
	}
	r := m.rcap(s.Rcap)
	return r == nil || !r.Rspec.Privileges.NodeManager
}

// Reclaim releases the rcap whose public ID is id, whoever owns it: host
// root's (the operator's) way to free an rcap a slice holds and will not
// or cannot release. A sliver bound to it is destroyed; a pool goes with
// the rcaps split from it. The release is logged as the operator's.
func (m *Manager) Reclaim(ctx context.Context, id string) error {
	if len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" {
		return invalidf("reclaim: id %q is not an rcap ID (16 lower-case hex digits, as list shows)", id)
	}
	m.mu.Lock()
	p, err := m.principalOfLocked(ctx)
	if err == nil && p != principalCentral {
		err = deniedf("reclaim: only the host's root may reclaim rcaps (%s)", p)
	}
	var found *rcapRecord
	if err == nil {
		found = m.findRcap(func(r *rcapRecord) bool { return r.Hash.id() == id })
		if found == nil {
			err = notFoundf("reclaim: no rcap %s on this node", id)
		}
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	peer, _ := PeerFromContext(ctx)
	m.log.Warn("rcap reclaimed by the operator", "rcap", id, "owner", found.Owner, "bound", m.boundName(found.Hash),
		"pool_of", found.PoolOf, "pid", peer.PID, "uid", peer.UID)
	if found.PoolOf != "" {
		return m.releasePool(ctx, found.PoolOf, "reclaimed by the operator")
	}
	return m.releaseHash(ctx, found.Hash, "reclaimed by the operator")
}
