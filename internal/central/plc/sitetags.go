package plc

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxSiteTags bounds the tags one site holds.
const maxSiteTags = 256

var siteTagKind = newKind("site tag", api.SiteTag{}, "site_tag_id", "")

func (s *Service) registerSiteTags() {
	s.add(method{name: "GetSiteTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the site tags that match the filter (a site_tag_id, a list of them, or a struct: site_id, login_base, tagname, value...).",
		call: s.getSiteTags})
	s.add(method{name: "AddSiteTag", roles: rolesPI, min: 3, max: 3, sig: []string{"int", "int", "int", "string"},
		help: "Tags a site (by site_id or login_base) with a value of a tag type (by tag_type_id or tagname) and returns its site_tag_id. Admins, and PIs of the site who hold one of the tag type's roles. A site has one tag of a type, and at most " + strconv.Itoa(maxSiteTags) + " tags.",
		call: s.addSiteTag})
	s.add(method{name: "UpdateSiteTag", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "string"},
		help: "Sets a site tag's value, with AddSiteTag's rights.",
		call: s.tagWriter("site_tag_id", (*txn).ownSiteTag, func(t *txn, id int64, v string) error { return t.UpdateSiteTag(id, v) }, nil)})
	s.add(method{name: "DeleteSiteTag", roles: rolesPI, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a site tag, with AddSiteTag's rights.",
		call: s.tagWriter("site_tag_id", (*txn).ownSiteTag, nil, func(t *txn, id int64) error { return t.DeleteSiteTag(id) })})
}

func (s *Service) getSiteTags(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, siteTagKind, func(t *txn, q store.Query) ([]api.SiteTag, error) { return t.SiteTags(q) },
		func(x *api.SiteTag) any { return x.SiteTagID }, nil)
}

func (s *Service) addSiteTag(ctx context.Context, c *Caller, args []any) (any, error) {
	sref, err := argRef(args, 0, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	tref, err := argRef(args, 1, "tag_type_id_or_name")
	if err != nil {
		return nil, err
	}
	value, err := tagValue(args, 2)
	if err != nil {
		return nil, err
	}
	if err := s.seedTagTypes(ctx); err != nil {
		return nil, err
	}
	var id int64
	err = s.update(ctx, c, func(t *txn) error {
		site, err := t.site(sref)
		if err != nil {
			return err
		}
		tt, err := t.tagType(tref)
		if err != nil {
			return err
		}
		id, err = t.addSiteTag(site, tt, value)
		return err
	})
	return id, err
}

// addSiteTag adds the tag tt of site, with the caller's rights.
func (t *txn) addSiteTag(site *api.Site, tt *api.TagType, value string) (int64, error) {
	if err := t.mayTagSite(site.SiteID, tt, value); err != nil {
		return 0, err
	}
	have, err := t.SiteTags(store.Query{Conds: []store.Cond{{Field: "site_id", Op: store.Eq, Value: site.SiteID}}})
	if err != nil {
		return 0, err
	}
	if len(have) >= maxSiteTags {
		return 0, Faultf(FaultInvalidArg, "site %s has %d tags already (at most %d)", site.LoginBase, len(have), maxSiteTags)
	}
	tag := api.SiteTag{SiteID: site.SiteID, TagTypeID: tt.TagTypeID, Value: value}
	err = t.AddSiteTag(&tag)
	return tag.SiteTagID, err
}

// ownSiteTag checks the caller's right to set the site tag id to value.
func (t *txn) ownSiteTag(id int64, value string) error {
	recs, err := t.SiteTags(store.ByID("site_tag_id", id))
	tag, err := one(siteTagKind, id, recs, err)
	if err != nil {
		return err
	}
	tt, err := t.tagType(tag.TagTypeID)
	if err != nil {
		return err
	}
	return t.mayTagSite(tag.SiteID, tt, value)
}

// mayTagSite: admins; else a PI of the site who holds one of the tag
// type's roles.
func (t *txn) mayTagSite(siteID int64, tt *api.TagType, value string) error {
	if !t.c.IsAdmin() && !t.isPIOf(siteID) {
		return denied("only an admin or a PI of the site may change its tags")
	}
	if !t.c.IsAdmin() && !slices.ContainsFunc(tt.RoleIDs, t.c.Has) {
		return denied("tags of type %s are for %s", tt.TagName, strings.Join(tt.Roles, ", "))
	}
	return checkTagValue(value)
}

// setSiteTag sets the tag name of site, adding or updating it.
func (t *txn) setSiteTag(site *api.Site, name, value string) error {
	tt, err := t.tagType(name)
	if err != nil {
		return err
	}
	have, err := t.SiteTags(store.Query{Conds: []store.Cond{
		{Field: "site_id", Op: store.Eq, Value: site.SiteID}, {Field: "tag_type_id", Op: store.Eq, Value: tt.TagTypeID}}})
	if err != nil {
		return err
	}
	if len(have) == 0 {
		_, err = t.addSiteTag(site, tt, value)
		return err
	}
	if err := t.mayTagSite(site.SiteID, tt, value); err != nil {
		return err
	}
	return t.UpdateSiteTag(have[0].SiteTagID, value)
}
