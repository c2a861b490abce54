package nodemgr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/orbisproject/orbis/api"
)

var errClosed = errors.New("node manager closed")

// busyRcap is the busy-map key of an rcap; slice names cannot contain ':'.
func busyRcap(h rcapHash) string { return "rcap:" + h.String() }

func (m *Manager) now() int64 { return m.clock.Now().Unix() }

// unbusyLocked ends the operation on keys and wakes the expiry loop, which
// may have an expiry waiting for one of them.
func (m *Manager) unbusyLocked(keys ...string) {
	for _, k := range keys {
		delete(m.busy, k)
	}
	m.kick()
}

// Acquire admits rs and returns a new rcap for it, owned by the caller.
// Zero fields get the resource table's defaults (api.Resources) and the
// node's (DefaultProcMax, DefaultOpenFileMax, Node). A slice may acquire
// plain resources only (no privileges but create_sliver, no delegation),
// within its share of the local policy.
func (m *Manager) Acquire(ctx context.Context, rs api.Rspec) (api.Rcap, error) {
	checked, err := checkRspec(m.node, rs, m.now())
	if err != nil {
		return "", err
	}
	return m.acquire(ctx, checked)
}

// acquire admits the checked rspec rs and returns a new rcap for it.
func (m *Manager) acquire(ctx context.Context, rs checkedRspec) (api.Rcap, error) {
	m.winPorts(ctx, rs.Ports)
	rc, h, err := newRcap()
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return "", errClosed
	}
	p, err := m.principalOfLocked(ctx)
	if err != nil {
		return "", err
	}
	if err := m.roomForLocked(p); err != nil {
		return "", err
	}
	if err := m.admitAcquireLocked(p, rs); err != nil {
		m.log.Info("acquire refused", "principal", p, "err", err)
		return "", err
	}
	r := &rcapRecord{Hash: h, Rspec: rs, Owner: p, Account: p, Maker: p}
	if p != principalCentral {
		r.Secret = rc
	}
	if err := m.putRcap(r); err != nil {
		return "", err
	}
	m.ledger.reserve(h, p, rs)
	m.expiry.push(h, rs.End)
	m.kick()
	m.log.Info("rcap acquired", "principal", p, "rcap", h.id(), "cpu_guarantee", rs.CPUGuarantee,
		"memory_guarantee", rs.MemoryGuarantee, "disk_guarantee", rs.DiskGuarantee, "end", rs.End)
	return rc, nil
}

// winPorts releases, for central's acquire, the rcaps of slices that
// reserve a port central asks for. Ports are central's to give (its ports
// tag names the slice each is for), so no broker can keep a slice's port
// from it, say on a node the slice had left. A pool that holds one goes
// with its splits. Other callers' acquires are not touched: admission
// refuses a taken port to them.
func (m *Manager) winPorts(ctx context.Context, ports []api.Port) {
	m.mu.Lock()
	p, err := m.principalOfLocked(ctx)
	var taken []*rcapRecord
	for _, port := range ports {
		h, ok := m.ledger.portOwner(port)
		if r := m.rcap(h); err == nil && p == principalCentral && ok && r != nil &&
			r.Owner != principalCentral && !slices.Contains(taken, r) {
			taken = append(taken, r)
		}
	}
	m.mu.Unlock()
	for _, r := range taken {
		m.log.Warn("central takes back a port a slice reserved", "rcap", r.Hash.id(), "owner", r.Owner)
		var err error
		if r.PoolOf != "" {
			err = m.releasePool(ctx, r.PoolOf, "central takes back its port")
		} else {
			err = m.releaseHash(ctx, r.Hash, "released: central takes back its port")
		}
		if err != nil {
			m.log.Error("release an rcap holding central's port", "rcap", r.Hash.id(), "err", err)
		}
	}
}

// admitAcquireLocked checks what principal p may acquire: a slice plain
// resources only, and nothing at all if the policy gives it no share;
// everyone within the node and the policy.
func (m *Manager) admitAcquireLocked(p string, rs checkedRspec) error {
	if p != principalCentral {
		if err := checkSliceRspec(rs.Rspec); err != nil {
			return err
		}
		if !m.policy.hasShare(p) {
			return refusedf("the local policy gives slice %s no share of this node", sliceOf(p))
		}
	}
	if err := m.ledger.admit(m.node, m.policy, p, rs.Rspec); err != nil {
		return err
	}
	if p != principalCentral {
		return m.checkSliceEndLocked(p, rs.End)
	}
	return nil
}

// checkSliceEndLocked refuses an rcap a slice acquires without an end,
// or ending after the rspec the slice's own sliver is bound to (its
// privilege): nothing a broker acquires outlives what it derives from.
func (m *Manager) checkSliceEndLocked(p string, end int64) error {
	var own int64
	if s := m.sliver(sliceOf(p)); s != nil {
		if r := m.rcap(s.Rcap); r != nil {
			own = r.Rspec.End
		}
	}
	switch {
	case end == 0:
		return invalidf("end: an rcap a slice acquires must end (set end, Unix seconds)")
	case own != 0 && end > own:
		return refusedf("end: %d is after %d, when %s's own rspec ends", end, own, p)
	}
	return nil
}

// checkSliceRspec refuses what a slice may not ask for, whatever it holds:
// privileges beyond create_sliver, and delegations (central's to give).
func checkSliceRspec(rs api.Rspec) error {
	switch {
	case rs.Privileges.NodeManager:
		return deniedf("privileges.node_manager: only central grants it")
	case rs.Privileges.Admin:
		return deniedf("privileges.admin: only central grants it")
	case rs.Delegated != nil:
		return deniedf("delegated: only central delegates")
	case rs.Slivers != 0:
		return deniedf("slivers: only a delegation (a pool) carries a sliver count")
	case len(rs.BindSlices) > 0:
		return deniedf("bind_slices: only central names the slices a broker may bind")
	}
	return nil
}

// Query returns what rc holds and the slice it is bound to.
func (m *Manager) Query(ctx context.Context, rc api.Rcap) (api.QueryResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, r, err := m.callerLocked(ctx, rc)
	if err != nil {
		return api.QueryResponse{}, err
	}
	return api.QueryResponse{ID: r.Hash.id(), Rspec: cloneRspec(r.Rspec.Rspec), Slice: m.boundName(r.Hash)}, nil
}

// cloneRspec copies rs deeply enough that the copy shares nothing.
func cloneRspec(rs api.Rspec) api.Rspec {
	rs.Ports = clonePorts(rs.Ports)
	rs.BindSlices = slices.Clone(rs.BindSlices)
	if rs.Delegated != nil {
		d := cloneRspec(*rs.Delegated)
		rs.Delegated = &d
	}
	return rs
}

// Release frees rc's resources; a sliver bound to it is stopped and
// destroyed. Once the rcap is gone an error can still report that the
// destroy failed; it is retried until it succeeds.
func (m *Manager) Release(ctx context.Context, rc api.Rcap) error {
	m.mu.Lock()
	p, r, err := m.callerLocked(ctx, rc)
	if err == nil && r.PoolOf != "" && p != principalCentral {
		err = refusedf("rcap %s is the pool of slice %s's delegation: it goes with the slice", r.Hash.id(), r.PoolOf)
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	if r.PoolOf != "" {
		return m.releasePool(ctx, r.PoolOf, "released by "+p)
	}
	m.log.Info("release", "principal", p, "rcap", r.Hash.id())
	return m.releaseHash(ctx, r.Hash, "released")
}

func (m *Manager) releaseHash(ctx context.Context, h rcapHash, why string) error {
	m.mu.Lock()
	r := m.rcap(h)
	if r == nil {
		m.mu.Unlock()
		return deniedf("rcap refused: unknown, released or expired")
	}
	if m.busy[busyRcap(h)] {
		m.mu.Unlock()
		return refusedf("rcap %s: another operation on it is under way", h.id())
	}
	s, up, err := m.dropRcapLocked(r)
	m.mu.Unlock()
	if up != nil {
		// Before the teardown, whose sweep of stranded rcaps may want
		// the parent: its sliver is busy only for this update.
		m.updateParentSliver(ctx, up)
	}
	if s != nil {
		// Marked destroying: tear it down even if the rcap's record
		// could not be removed.
		if terr := m.teardown(ctx, s); terr != nil && err == nil {
			return fmt.Errorf("rcap %s %s, but its sliver: %w (will retry)", h.id(), why, terr)
		}
	}
	if err != nil {
		return err
	}
	m.log.Info("rcap "+why, "rcap", h.id())
	return nil
}

// dropRcapLocked removes rcap r, giving its guarantees back to the rcap it
// was split from if that is live (see giveBack). A sliver bound to r is
// marked destroying, marked busy and returned, for the caller to tear
// down; so is the parent's sliver, marked updating, for the caller to
// give it the returned guarantees.
func (m *Manager) dropRcapLocked(r *rcapRecord) (s, up *sliverRecord, err error) {
	name, bound := m.bindingOf(r.Hash)
	s = m.sliver(name)
	if bound {
		if m.busy[name] {
			return nil, nil, refusedf("slice %s: another operation on it is under way", name)
		}
		if err := m.setStateLocked(s, sliverDestroying); err != nil {
			return nil, nil, err
		}
		m.busy[name] = true
	}
	g := m.giveBackLocked(r)
	if err := m.delRcap(r.Hash); err != nil {
		if g != nil {
			g.undoLocked(m)
		}
		return s, nil, err
	}
	m.ledger.release(r.Hash, r.Account, r.Rspec)
	if g != nil {
		g.finishLocked(m)
		up = g.sliver
	}
	return s, up, nil
}

// teardown stops and destroys sliver s, which the caller marked busy and
// destroying, then deletes its record and frees its UID range, and
// releases what the slice owned that no live sliver uses now
// (releaseStranded), its pool if it was a broker included. If the
// runtime fails, the record stays (and the range taken) and the expiry
// loop retries. A cancelled request does not stop a teardown half-way.
func (m *Manager) teardown(ctx context.Context, s *sliverRecord) error {
	ctx = context.WithoutCancel(ctx)
	if err := m.rt.Stop(ctx, s.Name); err != nil {
		m.log.Warn("stop sliver before destroy", "slice", s.Name, "err", err)
	}
	err := m.rt.Destroy(ctx, s.Name)
	m.mu.Lock()
	err = m.forgetSliverLocked(s, err)
	m.mu.Unlock()
	if err == nil {
		m.releaseStranded(ctx)
	}
	return err
}

// forgetSliverLocked deletes the record of s once the runtime destroyed
// it (err == nil); otherwise it schedules a retry, with backoff, and logs
// the first failure (later ones at debug level).
func (m *Manager) forgetSliverLocked(s *sliverRecord, err error) error {
	defer m.unbusyLocked(s.Name)
	if err == nil {
		err = m.delSliver(s)
	}
	if err != nil {
		prev, failed := m.stuck[s.Name]
		b := prev.next(m.clock.Now())
		m.stuck[s.Name] = b
		if failed {
			m.log.Debug("destroy sliver failed again", "slice", s.Name, "err", err, "retry_in", b.delay)
		} else {
			m.log.Error("destroy sliver; will retry", "slice", s.Name, "err", err, "retry_in", b.delay)
		}
		return fmt.Errorf("destroy sliver %s: %w", s.Name, err)
	}
	delete(m.stuck, s.Name)
	m.log.Info("sliver destroyed", "slice", s.Name)
	return nil
}

// List returns every live rcap, by ID, and every sliver with the runtime's
// view of its state. Central and privileged slices may list.
func (m *Manager) List(ctx context.Context) (api.NMList, error) {
	m.mu.Lock()
	if _, err := m.principalOfLocked(ctx); err != nil {
		m.mu.Unlock()
		return api.NMList{}, err
	}
	out := api.NMList{Rcaps: []api.RcapInfo{}, Slivers: []api.SliverInfo{}}
	if full := m.fullReason(); full != "" {
		out.Problems = []string{"no new slivers: " + full}
	}
	for _, r := range m.rcapList() {
		out.Rcaps = append(out.Rcaps, m.infoLocked(r.Hash, r))
	}
	states := map[string]sliverState{}
	for _, b := range m.sliverList() {
		s := b.s
		states[s.Name] = s.State
		out.Slivers = append(out.Slivers, api.SliverInfo{Name: s.Name, Rcap: s.Rcap.id(),
			UIDBase: s.UIDBase, UIDCount: UIDRangeSize, Image: s.Attrs.Image})
	}
	m.mu.Unlock()
	for i := range out.Slivers {
		si := &out.Slivers[i]
		if st := states[si.Name]; st != sliverReady {
			si.State = api.SliverState(st)
			continue
		}
		status, err := m.rt.Status(ctx, si.Name)
		if err != nil {
			si.State, si.Reason = api.SliverUnknown, err.Error()
			continue
		}
		si.State, si.Reason, si.Procs = status.State, status.Reason, status.Procs
	}
	sort.Slice(out.Rcaps, func(i, j int) bool { return out.Rcaps[i].ID < out.Rcaps[j].ID })
	sort.Slice(out.Slivers, func(i, j int) bool { return out.Slivers[i].Name < out.Slivers[j].Name })
	return out, nil
}

// fullReason says why the node takes no new sliver now ("": it does).
func (m *Manager) fullReason() string {
	if m.full == nil {
		return ""
	}
	return m.full()
}
