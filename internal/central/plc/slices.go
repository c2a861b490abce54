package plc

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Slice policy, as PlanetLab enforced it.
const (
	// SliceLife is how long a new slice lives unless told otherwise.
	SliceLife = 14 * 24 * time.Hour
	// MaxRenewal is how far ahead a non-admin may set a slice's expiry.
	MaxRenewal = 8 * 7 * 24 * time.Hour
	// DefaultMaxNodes is a new slice's max_nodes.
	DefaultMaxNodes = 100
	// DefaultSliceShares is a new slice's shares, taken from its site's.
	DefaultSliceShares = 1
)

var (
	sliceFields    = []string{"name", "instantiation", "url", "description", "max_nodes", "expires", "shares"}
	instantiations = []string{"plc-instantiated", "not-instantiated", "delegated", "nm-controller"}
)

func (s *Service) registerSlices() {
	s.add(method{name: "GetSlices", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the live slices that match the filter (an id, a name, a list of them, or a struct); expired slices are gone. Persons other than admins see their slices, their sites' if PIs, those on their sites' nodes if techs.",
		call: s.getSlices})
	s.add(method{name: "AddSlice", roles: rolesPI, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds a slice named " + api.SliceNameSyntax + " and returns its slice_id. The prefix must be an enabled site; a PI must belong to it and stay below its max_slices. Expires in 2 weeks unless told.",
		call: s.addSlice})
	s.add(method{name: "UpdateSlice", roles: rolesSlice, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a slice (by slice_id or name): url, description, max_nodes (admins and PIs), expires (non-admins: at most 8 weeks ahead, with a description and url), instantiation, shares.",
		call: s.updateSlice})
	s.add(method{name: "RenewSlice", roles: rolesSlice, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Sets a slice's expires (Unix seconds), as UpdateSlice does.",
		call: s.renewSlice})
	s.add(method{name: "DeleteSlice", roles: rolesPI, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a slice (admins, and PIs of its site); its slivers go from every node.",
		call: s.deleteSlice})
}

func (s *Service) getSlices(ctx context.Context, c *Caller, args []any) (any, error) {
	args, tags, dropID := splitReturnFields(args, "slice", "slice_id")
	args, filter := splitTagFilter(args, "slice")
	recs, err := getter(s, ctx, c, args, sliceKind, func(t *txn, q store.Query) ([]api.Slice, error) { return t.Slices(q) },
		func(x *api.Slice) any { return x.SliceID },
		func(t *txn) (restriction, error) {
			ids, all, err := t.visibleSliceIDs()
			r := inRestriction("slice_id", ids, all)
			r.conds = append(r.conds, t.liveCond())
			if err != nil || r.none {
				return r, err
			}
			byTag, err := t.tagRestriction("slice", "slice_id", filter)
			r.conds, r.none = append(r.conds, byTag.conds...), byTag.none
			return r, err
		})
	if err != nil {
		return nil, err
	}
	return s.addTagFields(ctx, c, recs, "slice", "slice_id", tags, dropID)
}

func (s *Service) addSlice(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "slice_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only(sliceFields...); err != nil {
		return nil, err
	}
	if err := f.require("name"); err != nil {
		return nil, err
	}
	sl := api.Slice{Instantiation: "plc-instantiated", MaxNodes: DefaultMaxNodes, CreatorPersonID: c.PersonID}
	if err := setSliceFields(f, &sl); err != nil {
		return nil, err
	}
	if err := checkSliceName(sl.Name); err != nil {
		return nil, err
	}
	if !f.has("shares") {
		sl.Shares = DefaultSliceShares
		if sl.Instantiation == "delegated" {
			sl.Shares = 0
		}
	}
	err = s.update(ctx, c, func(t *txn) error { return t.addSlice(&sl, f) })
	if err == nil {
		s.wakeExpiry()
	}
	return sl.SliceID, err
}

func (t *txn) addSlice(sl *api.Slice, f *fieldSet) error {
	prefix, _, _ := strings.Cut(sl.Name, "_")
	sites, err := t.Sites(condQuery("login_base", prefix))
	if err != nil {
		return err
	}
	if len(sites) == 0 {
		return Faultf(FaultInvalidArg, "slice_fields.name: prefix %q is not the login_base of a site", prefix)
	}
	site := &sites[0]
	sl.SiteID = site.SiteID
	sl.Created = t.now
	if !f.has("expires") {
		sl.Expires = t.now + int64(SliceLife/time.Second)
	}
	if err := t.checkNewSlice(site, sl); err != nil {
		return err
	}
	if err := t.checkExpiry(site, &api.Slice{Expires: t.now + int64(SliceLife/time.Second)}, sl); err != nil {
		return err
	}
	if err := t.checkShares(site, nil, sl); err != nil {
		return err
	}
	if err := t.dropExpired(sl.Name); err != nil {
		return err
	}
	return t.AddSlice(sl)
}

// checkNewSlice: the site is enabled, and a non-admin is its PI and stays
// below its max_slices.
func (t *txn) checkNewSlice(site *api.Site, sl *api.Slice) error {
	if !site.Enabled {
		return Faultf(FaultInvalidArg, "site %s is disabled: no new slices", site.LoginBase)
	}
	if sl.Instantiation == "delegated" && !t.c.IsAdmin() && sl.Shares > 0 {
		return denied("only an admin allocates shares to a delegated slice")
	}
	if t.c.IsAdmin() {
		return nil
	}
	if !t.isPIOf(site.SiteID) {
		return denied("slice prefix %q must be the login_base of a site you are a PI of", site.LoginBase)
	}
	live, err := t.liveSlices(site.SiteID)
	if err != nil {
		return err
	}
	if int64(len(live)) >= site.MaxSlices {
		return Faultf(FaultInvalidArg, "site %s has reached its maximum of %d slices (max_slices); delete one or ask an admin", site.LoginBase, site.MaxSlices)
	}
	return nil
}

// dropExpired deletes an expired slice of that name, so that the name can
// be used again.
func (t *txn) dropExpired(name string) error {
	old, err := t.Slices(store.Query{Conds: []store.Cond{{Field: "name", Op: store.Eq, Value: name}, {Field: "expires", Op: store.Le, Value: t.now}}})
	if err != nil || len(old) == 0 {
		return err
	}
	return t.DeleteSlice(old[0].SliceID)
}

func checkSliceName(name string) error {
	if _, err := api.ParseSliceName(name); err != nil {
		return Faultf(FaultInvalidArg, "slice_fields.name: %v", err)
	}
	return nil
}

func setSliceFields(f *fieldSet, sl *api.Slice) error {
	f.str("name", &sl.Name)
	f.str("instantiation", &sl.Instantiation)
	f.str("url", &sl.URL)
	f.str("description", &sl.Description)
	f.int("max_nodes", &sl.MaxNodes)
	f.int("expires", &sl.Expires)
	f.int("shares", &sl.Shares)
	if f.err != nil {
		return f.err
	}
	switch {
	case !slices.Contains(instantiations, sl.Instantiation):
		return Faultf(FaultInvalidArg, "slice_fields.instantiation: %q (want one of %v)", sl.Instantiation, instantiations)
	case sl.MaxNodes < 0:
		return Faultf(FaultInvalidArg, "slice_fields.max_nodes: negative")
	case sl.Shares < 0:
		return Faultf(FaultInvalidArg, "slice_fields.shares: negative")
	case len(sl.Description) > 4096:
		return Faultf(FaultInvalidArg, "slice_fields.description: over 4096 characters")
	}
	if f.has("url") {
		if err := checkURL(sl.URL); err != nil {
			return Faultf(FaultInvalidArg, "slice_fields.url: %v", err)
		}
	}
	return nil
}

// checkExpiry applies the renewal policy to a slice whose expiry goes from
// old.Expires to sl.Expires: always in the future; when it moves later, a
// non-admin needs the site to allow slices (max_slices > 0), at most 8
// weeks ahead, and a description and a URL.
func (t *txn) checkExpiry(site *api.Site, old, sl *api.Slice) error {
	if sl.Expires <= t.now {
		return Faultf(FaultInvalidArg, "slice_fields.expires: %d is not in the future (to end a slice, delete it)", sl.Expires)
	}
	if sl.Expires > api.MaxTime {
		return Faultf(FaultInvalidArg, "slice_fields.expires: %d is after the latest time nodes take, %d (9999-12-31T23:59:59Z)", sl.Expires, int64(api.MaxTime))
	}
	if sl.Expires <= old.Expires || t.c.IsAdmin() {
		return nil
	}
	limit := t.now + int64(MaxRenewal/time.Second)
	switch {
	case site.MaxSlices <= 0:
		return Faultf(FaultInvalidArg, "slice creation and renewal are disabled for site %s (max_slices 0)", site.LoginBase)
	case sl.Expires > limit:
		return Faultf(FaultInvalidArg, "slice_fields.expires: cannot renew a slice beyond 8 weeks from now (%s)", time.Unix(limit, 0).UTC().Format(time.RFC3339))
	case strings.TrimSpace(sl.Description) == "" || strings.TrimSpace(sl.URL) == "":
		return Faultf(FaultInvalidArg, "cannot renew slice %s with an empty description or URL: set them", sl.Name)
	}
	return nil
}

func (s *Service) updateSlice(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "slice_id_or_name")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "slice_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only(sliceFields[1:]...); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error { return t.updateSlice(ref, f) })
	if err == nil && f.has("expires") {
		s.wakeExpiry()
	}
	return int64(1), err
}

func (s *Service) renewSlice(ctx context.Context, c *Caller, args []any) (any, error) {
	exp, err := argInt(args, 1, "expires")
	if err != nil {
		return nil, err
	}
	return s.updateSlice(ctx, c, []any{args[0], map[string]any{"expires": exp}})
}

func (t *txn) updateSlice(ref any, f *fieldSet) error {
	sl, err := t.slice(ref)
	if err != nil {
		return err
	}
	if err := t.mayUseSlice(sl, "update it"); err != nil {
		return err
	}
	site, err := t.site(sl.SiteID)
	if err != nil {
		return err
	}
	old := *sl
	if err := setSliceFields(f, sl); err != nil {
		return err
	}
	if err := t.checkSliceChange(site, &old, sl); err != nil {
		return err
	}
	if sliverFieldsOf(sl) != sliverFieldsOf(&old) {
		t.bump(sl.NodeIDs...)
	}
	return t.UpdateSlice(sl)
}

// sliverFields are the fields of a slice that its slivers' entries in
// GetSlivers carry (the rspec, and what the node's traffic auditor pages
// show): a change of any bumps the slice's nodes.
type sliverFields struct {
	expires                         int64
	instantiation, description, url string
	shares                          int64
}

func sliverFieldsOf(sl *api.Slice) sliverFields {
	return sliverFields{sl.Expires, sl.Instantiation, sl.Description, sl.URL, sl.Shares}
}

// checkSliceChange applies the policy to an update from old to sl.
func (t *txn) checkSliceChange(site *api.Site, old, sl *api.Slice) error {
	admin, pi := t.c.IsAdmin(), t.isPIOf(site.SiteID)
	switch {
	case sl.MaxNodes != old.MaxNodes && !admin && !pi:
		return denied("only admins and PIs may change max_nodes")
	case sl.MaxNodes < int64(len(sl.NodeIDs)):
		return Faultf(FaultInvalidArg, "slice_fields.max_nodes: %d is below the %d nodes slice %s is on", sl.MaxNodes, len(sl.NodeIDs), sl.Name)
	case (sl.Instantiation == "delegated") != (old.Instantiation == "delegated") && !admin:
		return denied("only an admin makes a slice delegated or not")
	case sl.Shares != old.Shares && sl.Instantiation == "delegated" && !admin:
		return denied("only an admin allocates shares to a delegated slice (its users may DelegateShares)")
	case sl.Shares != old.Shares && !admin && !pi:
		return denied("only admins and PIs of site %s hand out its shares", site.LoginBase)
	}
	if sl.Expires != old.Expires {
		if err := t.checkExpiry(site, old, sl); err != nil {
			return err
		}
	}
	if sl.Shares != old.Shares || sl.Instantiation != old.Instantiation {
		return t.checkShares(site, old, sl)
	}
	return nil
}

func (s *Service) deleteSlice(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "slice_id_or_name")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		sl, err := t.slice(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageSite(sl.SiteID, "delete slice "+sl.Name); err != nil {
			return err
		}
		t.bump(sl.NodeIDs...)
		return t.DeleteSlice(sl.SliceID)
	})
	return int64(1), err
}
