package nodemgr

import (
	"slices"
	"sync"

	"github.com/orbisproject/orbis/api"
)

// ledger is admission control's account of the guarantees of all live
// rcaps and the ports they reserve, in total and per broker account (for
// the local policy): it sums them, checks a request against the node and
// the policy, and reserves and releases them. It is updated in O(1) per
// rcap, so admission costs the same with ten thousand rcaps as with one.
//
// Guarantees count for the whole life of an rcap, from acquire to release
// or expiry, whatever its start and end: a reservation for later holds its
// resources now. That is conservative, and it never over-commits.
//
// The operations (Manager) check and then reserve with Manager.mu held, so
// nothing is reserved between the two; ledger.mu is the innermost lock
// (see Manager for the lock order).
type ledger struct {
	// mu guards the following.
	mu        sync.Mutex
	total     totals
	byAccount map[string]totals
	ports     map[api.Port]rcapHash
}

// totals are the sums admission control and the policy bound: one per
// guarantee of the resource table (guarantees), in its order, so a new
// guarantee is summed with no change here.
type totals []int64

func newTotals() totals { return make(totals, len(guarantees)) }

// of returns the sum of the guarantee named name (0 for another name).
func (t totals) of(name string) int64 {
	for i, r := range guarantees {
		if r.Name == name && i < len(t) {
			return t[i]
		}
	}
	return 0
}

func (t totals) zero() bool {
	for _, v := range t {
		if v != 0 {
			return false
		}
	}
	return true
}

func (t totals) plus(rs api.Rspec, sign int64) {
	for i, r := range guarantees {
		t[i] += sign * r.Get(&rs)
	}
}

func newLedger() *ledger {
	return &ledger{total: newTotals(), byAccount: map[string]totals{}, ports: map[api.Port]rcapHash{}}
}

// reset forgets every reservation, before the records are counted again.
func (l *ledger) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total, l.byAccount, l.ports = newTotals(), map[string]totals{}, map[api.Port]rcapHash{}
}

// admit says whether rs, acquired for account, fits beside the live rcaps
// on the node and in the local policy p, and if not, exactly which
// resource is short and by how much.
func (l *ledger) admit(node Node, p *Policy, account string, rs api.Rspec) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.admitNodeLocked(node, rs); err != nil {
		return err
	}
	return l.admitPolicyLocked(p, account, rs)
}

// admitInstead is admit for rs replacing rcap h's rspec old: h's own
// guarantees and ports are counted as free.
func (l *ledger) admitInstead(node Node, p *Policy, h rcapHash, account string, old checkedRspec, rs api.Rspec) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(h, account, old)
	defer l.addLocked(h, account, old)
	if err := l.admitNodeLocked(node, rs); err != nil {
		return err
	}
	return l.admitPolicyLocked(p, account, rs)
}

// admitNodeLocked says whether rs fits beside the live rcaps: each
// guarantee the node's capacity bounds (moved) within what is free of it.
func (l *ledger) admitNodeLocked(node Node, rs api.Rspec) error {
	for _, r := range moved {
		capacity, _ := bound(node, r)
		if want, free := r.Get(&rs), capacity-l.total.of(r.Name); want > free {
			return refusedf("%s: %d requested, %d of %d free", r.Name, want, free, capacity)
		}
	}
	for _, p := range rs.Ports {
		if owner, taken := l.ports[p]; taken {
			return refusedf("ports: %s is reserved by rcap %s", portString(p), owner.id())
		}
	}
	return nil
}

// admitPolicyLocked says whether rs, acquired for account, fits in the
// share the local policy gives account and under the node's bandwidth
// cap. A resource rs does not ask for is not checked, so an account the
// policy left over its share (a stricter policy arrived) may still take
// others.
func (l *ledger) admitPolicyLocked(p *Policy, account string, rs api.Rspec) error {
	if p == nil {
		return nil
	}
	if free := p.BandwidthKbit - l.total.of("net_min_rate"); p.BandwidthKbit > 0 && rs.NetMinRate > 0 && rs.NetMinRate > free {
		return refusedf("net_min_rate: %d kbit/s requested, %d of the node's %d kbit/s (local policy) free", rs.NetMinRate, free, p.BandwidthKbit)
	}
	share := p.share(account)
	used := l.byAccount[account]
	for _, r := range guarantees {
		want, held, limit := r.Get(&rs), used.of(r.Name), share.of(r.Name)
		if want > 0 && limit >= 0 && want > limit-held {
			return refusedf("%s: %d requested, but %s may hold %d on this node (local policy) and holds %d", r.Name, want, account, limit, held)
		}
	}
	return nil
}

// admitSplit says whether child, split from an rcap of account, fits in
// the local policy. Guarantees move from parent to child, but net_min_rate
// is a limit both keep: the child adds its net_min_rate to the node's
// total and to account's, under the node's bandwidth cap and account's
// share.
func (l *ledger) admitSplit(p *Policy, account string, child checkedRspec) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitPolicyLocked(p, account, api.Rspec{NetMinRate: child.NetMinRate})
}

// portOwner returns the rcap that reserves port.
func (l *ledger) portOwner(port api.Port) (rcapHash, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.ports[port]
	return h, ok
}

// reserve counts rcap h's rspec rs for account.
func (l *ledger) reserve(h rcapHash, account string, rs checkedRspec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addLocked(h, account, rs)
}

// release stops counting rcap h's rspec rs for account.
func (l *ledger) release(h rcapHash, account string, rs checkedRspec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(h, account, rs)
}

// move counts rcap h's new rspec to instead of its old one from.
func (l *ledger) move(h rcapHash, account string, from, to checkedRspec) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.removeLocked(h, account, from)
	l.addLocked(h, account, to)
}

func (l *ledger) addLocked(h rcapHash, account string, rs checkedRspec) {
	l.total.plus(rs.Rspec, 1)
	t := l.byAccount[account]
	if t == nil {
		t = newTotals()
		l.byAccount[account] = t
	}
	t.plus(rs.Rspec, 1)
	for _, p := range rs.Ports {
		l.ports[p] = h
	}
}

func (l *ledger) removeLocked(h rcapHash, account string, rs checkedRspec) {
	l.total.plus(rs.Rspec, -1)
	if t := l.byAccount[account]; t != nil {
		t.plus(rs.Rspec, -1)
		if t.zero() {
			delete(l.byAccount, account)
		}
	}
	for _, p := range rs.Ports {
		if l.ports[p] == h {
			delete(l.ports, p)
		}
	}
}

// splitRspec carves req out of parent. It returns the child's rspec and the
// parent's after the split: the parent's guarantees and ports shrink by
// exactly the child's, so the node's totals do not change. The child's
// limits, privileges and time window stay within the parent's; a zero limit
// or time in req means the parent's. req is checked as checkRspec checks a
// request (checkRequest) before it is filled from the parent.
func splitRspec(node Node, parent checkedRspec, req api.Rspec, now int64) (child, rest checkedRspec, err error) {
	if err := checkRequest(node, req); err != nil {
		return child, rest, err
	}
	c := req
	c.Ports = clonePorts(req.Ports)
	c.BindSlices = slices.Clone(req.BindSlices)
	c.Slivers = 0 // a pool's count stays with the pool
	for _, r := range kept {
		if r.Get(&c) == 0 {
			r.Set(&c, r.Get(&parent.Rspec))
		}
	}
	if err := checkWithin(parent.Rspec, c); err != nil {
		return child, rest, err
	}
	if err := checkRelations(c, now); err != nil {
		return child, rest, err
	}
	rest = parent.clone()
	for _, r := range moved {
		r.Set(&rest.Rspec, r.Get(&parent.Rspec)-r.Get(&c))
	}
	rest.Ports = nil
	for _, p := range parent.Ports {
		if !hasPort(c.Ports, p) {
			rest.Ports = append(rest.Ports, p)
		}
	}
	if rest.CPUCap && rest.CPUGuarantee == 0 {
		return child, rest, refusedf("cpu_guarantee: the parent is capped at its guarantee and must keep some of it")
	}
	return checkedRspec{c}, rest, nil
}

// checkWithin refuses a child that asks for more than its parent holds.
func checkWithin(parent, child api.Rspec) error {
	for _, r := range moved {
		if c, p := r.Get(&child), r.Get(&parent); c > p {
			return refusedf("%s: %d requested, the parent holds %d", r.Name, c, p)
		}
	}
	for _, r := range kept {
		c, p := r.Get(&child), r.Get(&parent)
		if r.Kind == api.Time || p == 0 && noLimitWhenZero(r) {
			continue // times are checked below; no daily cap is no limit
		}
		if c > p {
			return refusedf("%s: %d exceeds the parent's %d", r.Name, c, p)
		}
	}
	switch {
	case child.Start < parent.Start:
		return refusedf("start: %d is before the parent's start %d", child.Start, parent.Start)
	case parent.End != 0 && child.End > parent.End:
		return refusedf("end: %d is after the parent's end %d", child.End, parent.End)
	case parent.CPUCap && !child.CPUCap:
		return refusedf("cpu_cap: the parent is capped at its guarantee, so the child must be")
	case child.Privileges.CreateSliver && !parent.Privileges.CreateSliver:
		return deniedf("privileges.create_sliver: the parent does not hold it")
	case child.Privileges.NodeManager && !parent.Privileges.NodeManager:
		return deniedf("privileges.node_manager: the parent does not hold it")
	case child.Privileges.Admin && !parent.Privileges.Admin:
		return deniedf("privileges.admin: the parent does not hold it")
	case len(child.BindSlices) > 0:
		return deniedf("bind_slices: only central names the slices a broker may bind")
	}
	for _, p := range child.Ports {
		if !hasPort(parent.Ports, p) {
			return refusedf("ports: %s is not reserved by the parent", portString(p))
		}
	}
	return nil
}

func hasPort(ports []api.Port, p api.Port) bool {
	for _, q := range ports {
		if q == p {
			return true
		}
	}
	return false
}
