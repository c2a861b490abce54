package rm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/errkind"
)

// manager is one run's state; only the loop goroutine touches it.
type manager struct {
	opts Options
	log  *slog.Logger
	nm   *api.NMClient
	list api.Slivers // the list followed
	st   rcapState   // the rcaps held, as persisted
	// problems says, per slice, why the last reconcile could not give it
	// what the list asks.
	problems map[string]string
}

// wanted returns the list's slivers that have not expired, by name.
func (m *manager) wanted() map[string]api.Sliver {
	now := m.opts.Now().Unix()
	want := map[string]api.Sliver{}
	for _, s := range m.list.Slivers {
		if end := desiredRspec(s).End; end != 0 && end <= now {
			continue // expired: the node manager releases it on time
		}
		want[s.Name] = s
	}
	return want
}

// reconcile makes the node manager run what the list asks: releases
// first (they free room for admission), then each wanted sliver.
func (m *manager) reconcile(ctx context.Context) {
	nml, err := m.nm.List(ctx)
	if err != nil {
		m.log.Error("node manager unreachable; will retry", "err", err)
		return
	}
	live := map[string]api.SliverInfo{}
	for _, s := range nml.Slivers {
		live[s.Name] = s
	}
	want := m.wanted()
	m.problems = map[string]string{}
	if !m.settleAcquire(ctx) {
		return
	}
	m.releaseOrphans(ctx)
	for _, name := range sortedKeys(m.st.Slices) {
		// Without any list from central (a lost state file), nothing
		// is known to be unwanted: keep what is held.
		if _, ok := want[name]; !ok && m.list.Version >= 0 {
			m.remove(ctx, name)
		}
	}
	for _, name := range sortedKeys(want) {
		info, ok := live[name]
		if err := m.ensure(ctx, want[name], info, ok); err != nil {
			m.problems[name] = err.Error()
			m.log.Warn("sliver not as central asks", "slice", name, "err", err)
		}
	}
}

func sortedKeys[V any](mp map[string]V) []string {
	keys := make([]string, 0, len(mp))
	for k := range mp {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ensure gives slice s its rcap, binding and state. A sliver to disable
// is stopped first, so that nothing the rest needs (room for new
// resources, a bind) can keep it running.
func (m *manager) ensure(ctx context.Context, s api.Sliver, info api.SliverInfo, exists bool) error {
	if err := m.disable(ctx, s, info, exists); err != nil {
		return err
	}
	rs, attrs := desiredRspec(s), desiredAttrs(s)
	h := m.st.Slices[s.Name]
	if h != nil && h.Next != "" {
		m.finishMove(ctx, s.Name, h)
	}
	if h != nil && !exists && h.Bound {
		h = m.checkGone(ctx, s.Name, h)
	}
	var moveErr error
	switch {
	case h == nil:
		var err error
		if h, err = m.acquire(ctx, s.Name, rs); err != nil {
			return err
		}
	case !reflect.DeepEqual(h.Rspec, rs):
		// A change the node refuses leaves the sliver on its
		// resources, but its keys and attributes change all the same:
		// a revoked key must not keep working because new limits do
		// not fit.
		moveErr = m.change(ctx, s.Name, h, rs)
	}
	if !h.Bound || !reflect.DeepEqual(h.Attrs, attrs) {
		if err := m.nm.Bind(ctx, s.Name, h.Rcap, attrs); err != nil {
			return errors.Join(moveErr, err)
		}
		h.Attrs, h.Bound = attrs, true
		m.save()
		m.log.Info("sliver bound", "slice", s.Name)
	}
	if moveErr != nil {
		return moveErr
	}
	return m.enable(ctx, s, info, exists)
}

// checkGone is called for a bound slice whose sliver the node manager no
// longer has: if its rcap is gone too (expired), the slice is held no
// more; otherwise it is bound again.
func (m *manager) checkGone(ctx context.Context, name string, h *held) *held {
	_, err := m.nm.Query(ctx, h.Rcap)
	if errors.Is(err, errkind.Denied) {
		m.log.Info("rcap gone (expired or released)", "slice", name)
		delete(m.st.Slices, name)
		m.save()
		return nil
	}
	h.Bound = false
	return h
}

// acquire gets an rcap for a new slice and records it before any bind;
// its intent is recorded before the acquire, so a crash cannot leak it.
func (m *manager) acquire(ctx context.Context, name string, rs api.Rspec) (*held, error) {
	rc, err := m.acquireRecorded(ctx, rs)
	if err != nil {
		return nil, err
	}
	h := &held{Rcap: rc, Rspec: rs}
	m.st.Slices[name] = h
	m.st.Acquiring = nil
	if err := m.save(); err != nil {
		delete(m.st.Slices, name)
		m.release(ctx, rc)
		return nil, err
	}
	m.log.Info("rcap acquired", "slice", name)
	return h, nil
}

// change gives the sliver of slice name the resources rs, amending its
// rcap in place: the node admits only what rs adds, so lowered limits and
// the slice's own ports never need room beside it. If the node refuses, a
// later end still extends the old rcap, so that a change the node cannot
// apply never ends the sliver early.
func (m *manager) change(ctx context.Context, name string, h *held, rs api.Rspec) error {
	err := m.amend(ctx, name, h, rs)
	if err == nil || h.Rspec.End == 0 || rs.End <= h.Rspec.End {
		return err
	}
	return errors.Join(err, m.extend(ctx, name, h, rs.End))
}

// amend gives the slice's rcap the resources rs in place. If the node
// refuses, the sliver keeps its old resources.
func (m *manager) amend(ctx context.Context, name string, h *held, rs api.Rspec) error {
	if err := m.nm.Amend(ctx, h.Rcap, rs); err != nil {
		return fmt.Errorf("new resources refused, keeping the old (will retry): %w", err)
	}
	h.Rspec = rs
	m.save()
	m.log.Info("sliver resources changed", "slice", name)
	return nil
}

// withEnd is rs ending at end, with its delegation if that ended with it.
func withEnd(rs api.Rspec, end int64) api.Rspec {
	if d := rs.Delegated; d != nil && d.End == rs.End {
		nd := *d
		nd.End = end
		rs.Delegated = &nd
	}
	rs.End = end
	return rs
}

// extend moves the end of the slice's rcap to end in place. If the node
// refuses, the sliver keeps its old end, and the error says when that is;
// the next reconcile tries again.
func (m *manager) extend(ctx context.Context, name string, h *held, end int64) error {
	if err := m.nm.Extend(ctx, h.Rcap, end); err != nil {
		old := time.Unix(h.Rspec.End, 0).UTC().Format(time.RFC3339)
		return fmt.Errorf("renewal not in force, the sliver still ends at %s (will retry): %w", old, err)
	}
	h.Rspec = withEnd(h.Rspec, end)
	m.save()
	m.log.Info("sliver renewed", "slice", name, "end", end)
	return nil
}

// finishMove settles a move (to a new rcap, as earlier versions changed
// resources) that a crash interrupted: if the sliver is bound
// to the new rcap the move happened, otherwise the new rcap is released.
func (m *manager) finishMove(ctx context.Context, name string, h *held) {
	q, err := m.nm.Query(ctx, h.Next)
	switch {
	case err == nil && q.Slice == name:
		m.st.Orphans = append(m.st.Orphans, h.Rcap)
		h.Rcap, h.Rspec, h.Bound = h.Next, h.NextRspec, false
	case err == nil || errors.Is(err, errkind.Denied):
		m.st.Orphans = append(m.st.Orphans, h.Next)
	default:
		return // the node manager cannot say; try again later
	}
	h.Next, h.NextRspec = "", api.Rspec{}
	m.save()
}

// remove releases the rcaps of a slice no longer listed, destroying its
// sliver.
func (m *manager) remove(ctx context.Context, name string) {
	h := m.st.Slices[name]
	if h.Next != "" {
		m.st.Orphans = append(m.st.Orphans, h.Next)
	}
	m.st.Orphans = append(m.st.Orphans, h.Rcap)
	delete(m.st.Slices, name)
	m.save()
	m.releaseOrphans(ctx)
	m.log.Info("sliver released", "slice", name)
}

// releaseOrphans releases the rcaps waiting for it; those the node manager
// could not release stay for the next reconcile.
func (m *manager) releaseOrphans(ctx context.Context) {
	if len(m.st.Orphans) == 0 {
		return
	}
	kept := m.st.Orphans[:0]
	for _, rc := range m.st.Orphans {
		if !m.release(ctx, rc) {
			kept = append(kept, rc)
		}
	}
	m.st.Orphans = kept
	m.save()
}

// release releases rc and reports whether it is gone (an rcap the node
// manager no longer knows is gone already).
func (m *manager) release(ctx context.Context, rc api.Rcap) bool {
	err := m.nm.Release(ctx, rc)
	if err == nil || errors.Is(err, errkind.Denied) {
		return true
	}
	m.log.Warn("release rcap; will retry", "err", err)
	return false
}

// disable stops a sliver whose enabled tag is 0. info is the node
// manager's view before this reconcile.
func (m *manager) disable(ctx context.Context, s api.Sliver, info api.SliverInfo, exists bool) error {
	if !exists || info.State == api.SliverStopped || attr(s, "enabled") != "0" {
		return nil
	}
	if err := m.nm.Stop(ctx, s.Name); err != nil {
		return fmt.Errorf("disable: %w", err)
	}
	m.log.Info("sliver stopped (enabled=0)", "slice", s.Name)
	return nil
}

// enable starts a stopped sliver whose tag is not 0, and stops one that
// did not exist before this reconcile (a bind starts a new sliver).
func (m *manager) enable(ctx context.Context, s api.Sliver, info api.SliverInfo, exists bool) error {
	stopped := exists && info.State == api.SliverStopped
	switch enabled := attr(s, "enabled") != "0"; {
	case !enabled && !exists:
		return m.disable(ctx, s, info, true)
	case enabled && stopped:
		if err := m.nm.Start(ctx, s.Name); err != nil {
			return fmt.Errorf("enable: %w", err)
		}
		m.log.Info("sliver started (enabled)", "slice", s.Name)
	}
	return nil
}

// save persists the rcaps held. A failure is logged: the state in memory
// is still right, and the next save writes it again.
func (m *manager) save() error {
	err := writeJSON(m.opts.StateDir, rcapsFile, m.st)
	if err != nil {
		m.log.Error("persist rcaps", "err", err)
	}
	return err
}

// desiredRspec is the rspec to acquire for s: central's, with the right
// to create a sliver, ending when the slice expires. Central's privileges
// (node_manager, admin) and a broker's delegation pass through unchanged:
// the node manager makes the broker's pool from it at bind.
func desiredRspec(s api.Sliver) api.Rspec {
	rs := s.Rspec
	rs.Ports = slices.Clone(rs.Ports)
	if len(rs.Ports) == 0 {
		rs.Ports = nil // as it reads back from the state file
	}
	if rs.Delegated != nil {
		d := *rs.Delegated
		d.Ports = slices.Clone(d.Ports)
		if len(d.Ports) == 0 {
			d.Ports = nil
		}
		rs.Delegated = &d
	}
	rs.Privileges.CreateSliver = true
	if rs.End == 0 && s.Expires != 0 {
		rs.End = s.Expires
	}
	// Past the latest time a node takes (which central refuses), the
	// slice lives as long as it can, never less than it had.
	rs.End = min(rs.End, api.MaxTime)
	return rs
}

// desiredAttrs are the bind attributes of s: its users' keys, one
// authorized_keys line each, its boot script and its image.
func desiredAttrs(s api.Sliver) api.BindAttrs {
	a := api.BindAttrs{InitScript: attr(s, "initscript"), Image: attr(s, "vref")}
	for _, k := range s.Keys {
		for line := range strings.Lines(k.Key) {
			if line = strings.TrimSpace(line); line != "" && !slices.Contains(a.Keys, line) {
				a.Keys = append(a.Keys, line)
			}
		}
	}
	return a
}

// attr is the value of s's attribute tag, or of an older alias of it
// (api.AttributeValue: vref, else image); "" if none.
func attr(s api.Sliver, tag string) string { return api.AttributeValue(s.Attributes, tag) }
