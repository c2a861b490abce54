package plc

import (
	"context"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

var siteTagKind = newKind("site tag", api.SiteTag{}, "site_tag_id", "")

// siteTags are the sites' tags: admins, and PIs of the site.
var siteTags = &objectTagKind[api.Site, api.SiteTag]{
	tag: siteTagKind, noun: "site", idField: "site_id", refArg: "site_id_or_login_base",
	object: (*txn).site,
	id:     func(s *api.Site) int64 { return s.SiteID },
	name:   func(s *api.Site) string { return s.LoginBase },
	mayObject: func(t *txn, s *api.Site) error {
		if !t.c.IsAdmin() && !t.isPIOf(s.SiteID) {
			return denied("only an admin or a PI of the site may change its tags")
		}
		return nil
	},
	list: func(t *txn, q store.Query) ([]api.SiteTag, error) { return t.SiteTags(q) },
	row:  func(x *api.SiteTag) tagRow { return tagRow{x.SiteTagID, x.SiteID, x.TagTypeID, x.TagName, x.Value} },
	add: func(t *txn, siteID, typeID int64, value string) (int64, error) {
		tag := api.SiteTag{SiteID: siteID, TagTypeID: typeID, Value: value}
		err := t.AddSiteTag(&tag)
		return tag.SiteTagID, err
	},
	update: func(t *txn, id int64, v string) error { return t.UpdateSiteTag(id, v) },
	remove: func(t *txn, id int64) error { return t.DeleteSiteTag(id) },
}

func (s *Service) registerSiteTags() {
	s.add(method{name: "GetSiteTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the site tags that match the filter (a site_tag_id, a list of them, or a struct: site_id, login_base, tagname, value...).",
		call: s.getSiteTags})
	siteTags.register(s, "Site", rolesPI, ". Admins, and PIs of the site who hold one of the tag type's roles.")
}

func (s *Service) getSiteTags(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, siteTagKind, func(t *txn, q store.Query) ([]api.SiteTag, error) { return t.SiteTags(q) },
		func(x *api.SiteTag) any { return x.SiteTagID }, nil)
}
