package plc

import (
	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// This file finds the record an argument names (by id or by name), with
// fault 102 "no such ..." when there is none, and holds the role checks
// that depend on records.

// refQuery selects k by an id or a name.
func refQuery(k *recordKind, ref any) store.Query {
	if s, ok := ref.(string); ok && k.nameField != "" {
		return condQuery(k.nameField, s)
	}
	return condQuery(k.idField, ref)
}

func noSuch(k *recordKind, ref any) *Fault {
	if s, ok := ref.(string); ok {
		return Faultf(FaultInvalidArg, "no such %s: %q", k.name, s)
	}
	return Faultf(FaultInvalidArg, "no such %s: %v", k.name, ref)
}

func one[T any](k *recordKind, ref any, recs []T, err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, noSuch(k, ref)
	}
	return &recs[0], nil
}

// site finds a site by site_id or login_base.
func (t *txn) site(ref any) (*api.Site, error) {
	recs, err := t.Sites(refQuery(siteKind, ref))
	return one(siteKind, ref, recs, err)
}

// person finds a person by person_id or email.
func (t *txn) person(ref any) (*api.Person, error) {
	recs, err := t.Persons(refQuery(personKind, ref))
	return one(personKind, ref, recs, err)
}

// node finds a node by node_id or hostname.
func (t *txn) node(ref any) (*api.Node, error) {
	recs, err := t.Nodes(refQuery(nodeKind, ref))
	return one(nodeKind, ref, recs, err)
}

// slice finds a live (unexpired) slice by slice_id or name.
func (t *txn) slice(ref any) (*api.Slice, error) {
	q := refQuery(sliceKind, ref)
	q.Conds = append(q.Conds, t.liveCond())
	recs, err := t.Slices(q)
	return one(sliceKind, ref, recs, err)
}

// key finds a key by key_id.
func (t *txn) key(id int64) (*api.Key, error) {
	recs, err := t.Keys(store.ByID("key_id", id))
	return one(keyKind, id, recs, err)
}

// sliceTag finds a slice tag by slice_tag_id.
func (t *txn) sliceTag(id int64) (*api.SliceTag, error) {
	recs, err := t.SliceTags(store.ByID("slice_tag_id", id))
	return one(tagKind, id, recs, err)
}

// liveCond selects slices that have not expired.
func (t *txn) liveCond() store.Cond {
	return store.Cond{Field: "expires", Op: store.Gt, Value: t.now}
}

// liveSlices lists the live slices of a site.
func (t *txn) liveSlices(siteID int64) ([]api.Slice, error) {
	return t.Slices(store.Query{Conds: []store.Cond{{Field: "site_id", Op: store.Eq, Value: siteID}, t.liveCond()}})
}

// isPIOf reports whether the caller is a PI of the site.
func (t *txn) isPIOf(siteID int64) bool {
	return t.c.Has(api.RolePI) && contains(t.c.SiteIDs, siteID)
}

// isTechOf reports whether the caller is a tech of the site.
func (t *txn) isTechOf(siteID int64) bool {
	return t.c.Has(api.RoleTech) && contains(t.c.SiteIDs, siteID)
}

func denied(format string, args ...any) *Fault {
	return Faultf(FaultPermission, "permission denied: "+format, args...)
}

// mustAdmin refuses a caller who is not an admin.
func (t *txn) mustAdmin(what string) error {
	if t.c.IsAdmin() {
		return nil
	}
	return denied("only an admin may %s", what)
}

// mayManageSite: admins, and PIs of the site.
func (t *txn) mayManageSite(siteID int64, what string) error {
	if t.c.IsAdmin() || t.isPIOf(siteID) {
		return nil
	}
	return denied("only an admin or a PI of the site may %s", what)
}

// mayManageNodes: admins, and PIs and techs of the site.
func (t *txn) mayManageNodes(siteID int64, what string) error {
	if t.c.IsAdmin() || t.isPIOf(siteID) || t.isTechOf(siteID) {
		return nil
	}
	return denied("only an admin, or a PI or tech of the node's site, may %s", what)
}

// mayUseSlice: admins, PIs of the slice's site, and the slice's users.
func (t *txn) mayUseSlice(sl *api.Slice, what string) error {
	if t.c.IsAdmin() || t.isPIOf(sl.SiteID) || (t.c.PersonID != 0 && contains(sl.PersonIDs, t.c.PersonID)) {
		return nil
	}
	return denied("only an admin, a PI of its site, or a user of slice %s may %s", sl.Name, what)
}

// mayUpdatePerson: admins; the person themself; a PI of one of the
// person's sites, unless the person is an admin.
func (t *txn) mayUpdatePerson(p *api.Person, what string) error {
	switch {
	case t.c.IsAdmin(), t.c.PersonID == p.PersonID:
		return nil
	case t.c.Has(api.RolePI) && intersects(t.c.SiteIDs, p.SiteIDs) && !contains(p.RoleIDs, api.RoleAdmin):
		return nil
	}
	return denied("only an admin, the person, or a PI of their site may %s %s", what, p.Email)
}

// visiblePersonIDs lists the persons a non-admin caller may see: the
// caller, the persons of the caller's sites and of the caller's slices.
// all is true for admins.
func (t *txn) visiblePersonIDs() (ids []any, all bool, err error) {
	if t.c.IsAdmin() {
		return nil, true, nil
	}
	if t.c.PersonID == 0 {
		return nil, false, nil
	}
	set := map[int64]bool{t.c.PersonID: true}
	if len(t.c.SiteIDs) > 0 {
		sites, err := t.Sites(condQuery("site_id", anyList(t.c.SiteIDs)))
		if err != nil {
			return nil, false, err
		}
		for _, s := range sites {
			addAll(set, s.PersonIDs)
		}
	}
	shared, err := t.slicesSharedWithOthers(set)
	if err != nil {
		return nil, false, err
	}
	if len(shared) == 0 {
		return setList(set), false, nil
	}
	slices, err := t.Slices(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: shared}, t.liveCond()}})
	if err != nil {
		return nil, false, err
	}
	for _, sl := range slices {
		addAll(set, sl.PersonIDs)
	}
	return setList(set), false, nil
}

// maxSharedLookup bounds the slices slicesSharedWithOthers lists in one
// query; a person in more has them all read instead.
const maxSharedLookup = 1000

// slicesSharedWithOthers lists the caller's slices, live or not, that
// hold a person not in known. It reads the persons of the caller's
// slices (a few rows) rather than the slices with their lists (a PI's
// thousand slices took most of a page's time), so that usually, when the
// caller's slices hold only persons known already, no slice is read.
func (t *txn) slicesSharedWithOthers(known map[int64]bool) ([]any, error) {
	me, err := t.Persons(condQuery("person_id", t.c.PersonID))
	if err != nil || len(me) == 0 {
		return nil, err
	}
	mine := me[0].SliceIDs
	if len(mine) > maxSharedLookup {
		return anyList(mine), nil
	}
	mates, err := t.Persons(store.Query{Conds: []store.Cond{{Field: "slice_ids", Op: store.Eq, Value: anyList(mine)}}})
	if err != nil {
		return nil, err
	}
	inMine := make(map[int64]bool, len(mine))
	addAll(inMine, mine)
	shared := map[int64]bool{}
	for _, m := range mates {
		if known[m.PersonID] {
			continue
		}
		for _, id := range m.SliceIDs {
			if inMine[id] {
				shared[id] = true
			}
		}
	}
	return setList(shared), nil
}

// visibleSliceIDs lists the slices a person who is not an admin may see
// in full: their own, their sites' if a PI, and those on their sites'
// nodes if a tech. all is true for admins, nodes and anonymous callers,
// who see every live slice (as in PLCAPI).
func (t *txn) visibleSliceIDs() (ids []any, all bool, err error) {
	if t.c.IsAdmin() || t.c.PersonID == 0 {
		return nil, true, nil
	}
	set := map[int64]bool{}
	// The caller's own record lists their slices: one row, not a read of
	// every slice they are in.
	me, err := t.Persons(condQuery("person_id", t.c.PersonID))
	if err != nil {
		return nil, false, err
	}
	for _, p := range me {
		addAll(set, p.SliceIDs)
	}
	if len(t.c.SiteIDs) > 0 && (t.c.Has(api.RolePI) || t.c.Has(api.RoleTech)) {
		sites, err := t.Sites(condQuery("site_id", anyList(t.c.SiteIDs)))
		if err != nil {
			return nil, false, err
		}
		for _, s := range sites {
			if t.c.Has(api.RolePI) {
				addAll(set, s.SliceIDs)
			}
			if t.c.Has(api.RoleTech) {
				if err := t.addNodesSlices(set, s.NodeIDs); err != nil {
					return nil, false, err
				}
			}
		}
	}
	return setList(set), false, nil
}

func (t *txn) addNodesSlices(set map[int64]bool, nodeIDs []int64) error {
	if len(nodeIDs) == 0 {
		return nil
	}
	nodes, err := t.Nodes(condQuery("node_id", anyList(nodeIDs)))
	for _, n := range nodes {
		addAll(set, n.SliceIDs)
	}
	return err
}

func addAll(set map[int64]bool, ids []int64) {
	for _, id := range ids {
		set[id] = true
	}
}

func setList(set map[int64]bool) []any {
	out := make([]any, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	return out
}

// anyList is l as a query value.
func anyList[T any](l []T) []any {
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = v
	}
	return out
}
