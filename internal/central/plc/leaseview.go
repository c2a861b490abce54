package plc

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// leaseView is a lease as GetLeases returns it: PLCAPI's lease, with its
// node's and slice's fields.
type leaseView struct {
	LeaseID  int64  `json:"lease_id"`
	TFrom    int64  `json:"t_from"`
	TUntil   int64  `json:"t_until"`
	NodeID   int64  `json:"node_id"`
	SliceID  int64  `json:"slice_id"`
	Hostname string `json:"hostname"`
	NodeType string `json:"node_type"`
	Name     string `json:"name"`    // the slice's
	SiteID   int64  `json:"site_id"` // the slice's
	Duration int64  `json:"duration"`
	Expired  bool   `json:"expired"`
}

var leaseViewKind = newKind("lease", leaseView{}, "lease_id", "")

// maxLeaseDays bounds a lease filter's day (a century).
const maxLeaseDays = 36500

// leaseJoins are the lease filter keys that name a field of the lease's
// node or slice: GetLeases selects those records first, and then the
// leases of their ids.
var leaseJoins = map[string]struct{ kind, field string }{
	"hostname":  {"node", "hostname"},
	"node_type": {"node", "node_type"},
	"name":      {"slice", "name"},
	"site_id":   {"slice", "site_id"},
}

// leaseFilter is what GetLeases takes out of a struct filter before the
// store sees it: the joined fields, and PLCAPI's time selectors.
type leaseFilter struct {
	joins []store.Cond // on the node or the slice, Field as in leaseJoins
	conds []store.Cond // on the lease
	none  bool         // a join matched nothing
}

// splitLeaseFilter takes from filter m the keys only GetLeases knows:
//
//	clip: T         leases not over at T (t_until >= T)
//	clip: [F, U]    leases that overlap [F, U]
//	alive: T        leases running at T (t_from <= T <= t_until)
//	alive: [F, U]   as clip: [F, U]
//	day: N          clip on N days from 00:00 UTC today (0: no end)
//	expired: bool   t_until before now, or not
//	hostname, node_type, name, site_id   fields of the node or slice
//
// Times are Unix seconds or 'YYYY-MM-DD HH:MM:SS' (UTC) strings.
func splitLeaseFilter(m map[string]any, now int64) (map[string]any, *leaseFilter, error) {
	rest := maps.Clone(m)
	lf := &leaseFilter{}
	if _, ok := rest["day"]; ok {
		if _, clip := rest["clip"]; clip {
			return nil, nil, Faultf(FaultInvalidArg, "filter: clip and day do not go together")
		}
		n, ok := AsInt(rest["day"])
		if !ok || n < 0 || n > maxLeaseDays {
			return nil, nil, badArg("filter: day", fmt.Sprintf("a number of days from 0 to %d", maxLeaseDays), rest["day"])
		}
		today := now - now%86400
		rest["clip"] = today
		if n > 0 {
			rest["clip"] = []any{today, today + n*86400}
		}
		delete(rest, "day")
	}
	for _, key := range []string{"clip", "alive"} {
		if _, neg := rest["~"+key]; neg {
			return nil, nil, Faultf(FaultInvalidArg, "filter: ~%s: Orbis does not negate %s; ask for the complement with <t_from or >t_until", key, key)
		}
		v, ok := rest[key]
		if !ok {
			continue
		}
		delete(rest, key)
		conds, err := timeSelector(key, v)
		if err != nil {
			return nil, nil, err
		}
		lf.conds = append(lf.conds, conds...)
	}
	if v, ok := rest["expired"]; ok {
		b, ok := asBool(v)
		if !ok {
			return nil, nil, badArg("filter: expired", "a boolean", v)
		}
		op := store.Ge
		if b {
			op = store.Lt
		}
		lf.conds = append(lf.conds, store.Cond{Field: "t_until", Op: op, Value: now})
		delete(rest, "expired")
	}
	for key := range m {
		op, field := store.Eq, key
		if o, ok := filterOps[key[0]]; ok && len(key) > 1 {
			op, field = o, key[1:]
		}
		if _, ok := leaseJoins[field]; ok {
			lf.joins = append(lf.joins, store.Cond{Field: field, Op: op, Value: m[key]})
			delete(rest, key)
		}
	}
	return rest, lf, nil
}

// timeSelector is clip or alive as conditions on t_from and t_until.
func timeSelector(key string, v any) ([]store.Cond, error) {
	if l, ok := v.([]any); ok {
		if len(l) != 2 {
			return nil, badArg("filter: "+key, "a time or a [from, until] pair", v)
		}
		f, err := leaseTime(key, l[0])
		if err != nil {
			return nil, err
		}
		u, err := leaseTime(key, l[1])
		if err != nil {
			return nil, err
		}
		return []store.Cond{{Field: "t_from", Op: store.Le, Value: u}, {Field: "t_until", Op: store.Ge, Value: f}}, nil
	}
	at, err := leaseTime(key, v)
	if err != nil {
		return nil, err
	}
	if key == "clip" {
		return []store.Cond{{Field: "t_until", Op: store.Ge, Value: at}}, nil
	}
	return []store.Cond{{Field: "t_from", Op: store.Le, Value: at}, {Field: "t_until", Op: store.Ge, Value: at}}, nil
}

// leaseTime reads a time: Unix seconds, or 'YYYY-MM-DD HH:MM:SS' in UTC.
func leaseTime(what string, v any) (int64, error) {
	if n, ok := AsInt(v); ok {
		return n, nil
	}
	if s, ok := v.(string); ok {
		for _, layout := range []string{time.DateTime, "2006-01-02 15:04", time.DateOnly, time.RFC3339} {
			if t, err := time.ParseInLocation(layout, strings.TrimSpace(s), time.UTC); err == nil {
				return t.Unix(), nil
			}
		}
	}
	return 0, badArg(what, "Unix seconds or a 'YYYY-MM-DD HH:MM:SS' UTC time", v)
}

func (s *Service) getLeases(ctx context.Context, c *Caller, args []any) (any, error) {
	args = append([]any(nil), args...)
	lf := &leaseFilter{}
	if m, ok := optArg(args, 0).(map[string]any); ok {
		rest, f, err := splitLeaseFilter(m, s.now().Unix())
		if err != nil {
			return nil, err
		}
		args[0], lf = rest, f
	}
	return getter(s, ctx, c, args, leaseViewKind, func(t *txn, q store.Query) ([]leaseView, error) {
		ls, err := t.Leases(q)
		if err != nil {
			return nil, err
		}
		return t.leaseViews(ls)
	}, func(x *leaseView) any { return x.LeaseID }, func(t *txn) (restriction, error) { return t.leaseRestriction(lf) })
}

// leaseRestriction turns a lease filter's joins into conditions on the
// lease's node_id and slice_id.
func (t *txn) leaseRestriction(lf *leaseFilter) (restriction, error) {
	r := restriction{conds: lf.conds}
	byKind := map[string][]store.Cond{}
	for _, j := range lf.joins {
		jn := leaseJoins[j.Field]
		cond, err := filterCond(joinKind(jn.kind).fields[jn.field], j.Op, jn.field, j.Value)
		if err != nil {
			return r, err
		}
		byKind[jn.kind] = append(byKind[jn.kind], cond)
	}
	for kind, conds := range byKind {
		ids, err := t.joinIDs(kind, conds)
		if err != nil || len(ids) == 0 {
			return restriction{none: true}, err
		}
		r.conds = append(r.conds, store.Cond{Field: leaseJoinBy[kind], Op: store.Eq, Value: ids})
	}
	return r, nil
}

// leaseJoinBy is the lease field that names a record of each joined kind.
var leaseJoinBy = map[string]string{"node": "node_id", "slice": "slice_id"}

// joinIDs are the ids of the nodes or slices that match conds.
func (t *txn) joinIDs(kind string, conds []store.Cond) ([]any, error) {
	var ids []any
	if kind == "node" {
		ns, err := t.Nodes(store.Query{Conds: conds})
		for _, n := range ns {
			ids = append(ids, n.NodeID)
		}
		return ids, err
	}
	sls, err := t.Slices(store.Query{Conds: conds})
	for _, sl := range sls {
		ids = append(ids, sl.SliceID)
	}
	return ids, err
}

func joinKind(kind string) *recordKind {
	if kind == "node" {
		return nodeKind
	}
	return sliceKind
}

// leaseViews adds each lease's node and slice fields.
func (t *txn) leaseViews(ls []api.Lease) ([]leaseView, error) {
	out := make([]leaseView, len(ls))
	if len(ls) == 0 {
		return out, nil
	}
	nodeIDs, sliceIDs := map[int64]bool{}, map[int64]bool{}
	for _, l := range ls {
		nodeIDs[l.NodeID], sliceIDs[l.SliceID] = true, true
	}
	ns, err := t.Nodes(store.Query{Conds: []store.Cond{{Field: "node_id", Op: store.Eq, Value: setList(nodeIDs)}}})
	if err != nil {
		return nil, err
	}
	sls, err := t.Slices(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: setList(sliceIDs)}}})
	if err != nil {
		return nil, err
	}
	nodes, slices := map[int64]*api.Node{}, map[int64]*api.Slice{}
	for i := range ns {
		nodes[ns[i].NodeID] = &ns[i]
	}
	for i := range sls {
		slices[sls[i].SliceID] = &sls[i]
	}
	for i, l := range ls {
		v := leaseView{LeaseID: l.LeaseID, TFrom: l.TFrom, TUntil: l.TUntil, NodeID: l.NodeID, SliceID: l.SliceID,
			Duration: l.TUntil - l.TFrom, Expired: l.TUntil < t.now}
		if n := nodes[l.NodeID]; n != nil {
			v.Hostname, v.NodeType = n.Hostname, n.NodeType
		}
		if sl := slices[l.SliceID]; sl != nil {
			v.Name, v.SiteID = sl.Name, sl.SiteID
		}
		out[i] = v
	}
	return out, nil
}
