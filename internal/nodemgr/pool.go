package nodemgr

import (
	"context"
	"reflect"
	"sort"

	"github.com/orbisproject/orbis/api"
)

// A broker slice (privileges.node_manager) whose rspec carries a
// delegation gets a pool rcap holding it, owned by the slice and counted
// as central's: central delegated it. The broker splits the pool and binds
// the splits (or the pool itself); splits move guarantees out of the pool,
// so the broker never holds more than the delegation, and the pool's
// Rspec.Slivers bounds the slivers bound from the pool and its splits
// together. The pool follows the delegation as central changes it, and
// goes, with every rcap split from it, when the broker's sliver goes or
// its rspec no longer delegates: whoever owns a split by then, and
// whatever sliver it is bound to. So the broker's customers lose the
// slivers it bound for them from its delegation when the broker goes, as
// they would when the delegation ends; the rcaps the broker acquired from
// its own policy share go, wherever bound, when its sliver or its
// privilege goes (see releaseStranded).

// syncPool gives slice the pool its current rspec delegates, replaces or
// adjusts it when the delegation changed, and releases it when there is
// none any more.
func (m *Manager) syncPool(ctx context.Context, slice string) error {
	m.mu.Lock()
	var want *api.Rspec
	if s := m.sliver(slice); s != nil {
		if r := m.rcap(s.Rcap); r != nil && r.Rspec.Privileges.NodeManager && r.Rspec.Delegated != nil {
			want = r.Rspec.Delegated
		}
	}
	ph, has := m.poolOf(slice)
	if want == nil {
		m.mu.Unlock()
		if has {
			return m.releasePool(ctx, slice, "its slice no longer delegates")
		}
		return nil
	}
	var err error
	if !has {
		err = m.newPoolLocked(slice, *want)
	} else if pool := m.rcap(ph); !reflect.DeepEqual(pool.Granted, want) {
		err = m.regrantPoolLocked(pool, *want)
	}
	m.mu.Unlock()
	return err
}

// newPoolLocked makes slice's pool rcap for delegation d.
func (m *Manager) newPoolLocked(slice string, d api.Rspec) error {
	rs, err := poolRspec(m.node, d, m.now())
	if err != nil {
		return err
	}
	if err := m.ledger.admit(m.node, m.policy, principalCentral, rs.Rspec); err != nil {
		return err
	}
	rc, h, err := newRcap()
	if err != nil {
		return err
	}
	granted := cloneRspec(d)
	r := &rcapRecord{Hash: h, Rspec: rs, Owner: slicePrincipal(slice), Account: principalCentral, Maker: slicePrincipal(slice),
		Secret: rc, Pool: h.String(), PoolOf: slice, Granted: &granted}
	if err := m.putRcap(r); err != nil {
		return err
	}
	m.ledger.reserve(h, r.Account, rs)
	m.expiry.push(h, rs.End)
	m.kick()
	m.log.Info("pool rcap made from the delegation", "slice", slice, "rcap", h.id(), "cpu_guarantee", rs.CPUGuarantee,
		"memory_guarantee", rs.MemoryGuarantee, "disk_guarantee", rs.DiskGuarantee, "slivers", rs.Slivers)
	return nil
}

// poolRspec checks a delegation and fills in the node's defaults.
func poolRspec(node Node, d api.Rspec, now int64) (checkedRspec, error) {
	if d.Delegated != nil || d.Privileges.NodeManager || d.Privileges.Admin {
		return checkedRspec{}, deniedf("delegated: a delegation carries resources and create_sliver only")
	}
	return checkRspec(node, d, now) // a negative slivers included
}

// regrantPoolLocked gives pool a changed delegation d: what the broker
// has split out of the pool stays handed out, and the pool holds the rest
// of d. A delegation smaller than what is handed out is refused.
func (m *Manager) regrantPoolLocked(pool *rcapRecord, d api.Rspec) error {
	rs, err := poolRspec(m.node, d, m.now())
	if err != nil {
		return err
	}
	old := pool.Granted
	if old == nil {
		old = &api.Rspec{}
	}
	for _, r := range moved {
		v, out := r.Get(&rs.Rspec), r.Get(old)-r.Get(&pool.Rspec.Rspec)
		if v < out {
			return refusedf("delegated.%s: %d is less than the %d slice %s has handed out", r.Name, v, out, pool.PoolOf)
		}
		r.Set(&rs.Rspec, v-out)
	}
	var ports []api.Port
	for _, p := range rs.Ports {
		if !hasPort(old.Ports, p) || hasPort(pool.Rspec.Ports, p) {
			ports = append(ports, p)
		}
	}
	rs.Ports = ports
	err = m.ledger.admitInstead(m.node, m.policy, pool.Hash, pool.Account, pool.Rspec, rs.Rspec)
	n := *pool
	granted := cloneRspec(d)
	n.Rspec, n.Granted = rs, &granted
	was := pool.Rspec
	if err == nil {
		err = m.saveRcap(pool, n)
	}
	if err != nil {
		return err
	}
	m.ledger.move(pool.Hash, pool.Account, was, pool.Rspec)
	m.expiry.push(pool.Hash, rs.End)
	m.kick()
	m.log.Info("pool rcap follows a changed delegation", "slice", pool.PoolOf, "rcap", pool.Hash.id(),
		"cpu_guarantee", rs.CPUGuarantee, "slivers", rs.Slivers)
	return nil
}

// releasePool releases slice's pool and every rcap split from it,
// destroying the slivers bound to them.
func (m *Manager) releasePool(ctx context.Context, slice, why string) error {
	m.mu.Lock()
	ph, ok := m.poolOf(slice)
	var tree []rcapHash
	if ok {
		for _, r := range m.rcapList() {
			if r.Pool == ph.String() && r.Hash != ph {
				tree = append(tree, r.Hash)
			}
		}
		tree = append(tree, ph) // children first, then the pool
	}
	m.mu.Unlock()
	var first error
	for _, h := range tree {
		if err := m.releaseHash(ctx, h, "released with its pool"); err != nil && first == nil {
			first = err
		}
	}
	if ok {
		m.log.Info("pool released", "slice", slice, "rcap", ph.id(), "rcaps", len(tree), "why", why)
	}
	return first
}

// poolSliversLocked counts the slivers other than slice's bound to pool
// ph or to rcaps split from it.
func (m *Manager) poolSliversLocked(ph, slice string) int64 {
	return m.countSlivers(func(s *sliverRecord, r *rcapRecord) bool {
		return s.Name != slice && r != nil && r.Pool == ph && s.State != sliverDestroying
	})
}

// infoLocked describes rcap h without its secret.
func (m *Manager) infoLocked(h rcapHash, r *rcapRecord) api.RcapInfo {
	return api.RcapInfo{ID: h.id(), Parent: r.Parent, Rspec: cloneRspec(r.Rspec.Rspec), Pool: r.PoolOf != "",
		Bound: m.boundName(h), Owner: r.Owner}
}

// Rcaps returns the rcaps the caller owns, with the rcap itself where the
// node manager keeps it (a slice's; see api.RcapInfo).
func (m *Manager) Rcaps(ctx context.Context) (api.NMRcaps, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.principalOfLocked(ctx)
	if err != nil {
		return api.NMRcaps{}, err
	}
	out := api.NMRcaps{Rcaps: []api.RcapInfo{}}
	for _, r := range m.rcapList() {
		if r.Owner == p {
			info := m.infoLocked(r.Hash, r)
			info.Rcap = r.Secret
			out.Rcaps = append(out.Rcaps, info)
		}
	}
	sort.Slice(out.Rcaps, func(i, j int) bool { return out.Rcaps[i].ID < out.Rcaps[j].ID })
	m.log.Info("rcaps", "principal", p, "count", len(out.Rcaps))
	return out, nil
}

// Pass hands rc to the principal to ("central" or a slice name): from then
// on rc works for to alone and is refused to the giver. The rcap's policy
// account (who acquired it) does not change. A slice with no sliver on
// the node is refused as a receiver: it could never call with the rcap,
// which would be stranded there.
func (m *Manager) Pass(ctx context.Context, rc api.Rcap, to string) error {
	target := principalCentral
	if to != principalCentral {
		if err := checkSliceName(to); err != nil {
			return invalidf("pass: to: %v", err)
		}
		target = slicePrincipal(to)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	p, r, err := m.callerLocked(ctx, rc)
	if err != nil {
		return err
	}
	if m.busy[busyRcap(r.Hash)] {
		return refusedf("rcap %s: another operation on it is under way", r.Hash.id())
	}
	if target != principalCentral {
		if s := m.sliver(to); s == nil || s.State == sliverDestroying {
			return refusedf("pass: slice %s has no sliver on this node: it could not use the rcap", to)
		}
	}
	n := *r
	n.Owner, n.Secret = target, ""
	if target != principalCentral {
		n.Secret = rc
	}
	if err := m.saveRcap(r, n); err != nil {
		return err
	}
	m.log.Info("rcap passed", "rcap", r.Hash.id(), "from", p, "to", target)
	return nil
}
