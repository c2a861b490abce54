package plc

import (
	"context"
	"regexp"
	"sync"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// loginBaseRE is PLCAPI's login_base: lower-case letters, digits and dots,
// at most 32.
var loginBaseRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9.]{0,31}$`) })

// Site fields a PI may set on their site; admins may set every one.
var (
	sitePIFields    = []string{"name", "abbreviated_name", "is_public", "latitude", "longitude", "url"}
	siteAdminFields = append([]string{"login_base", "enabled", "max_slices", "max_slivers", "shares"}, sitePIFields...)
)

func (s *Service) registerSites() {
	s.add(method{name: "GetSites", roles: rolesPublic, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the sites that match the filter (an id, a login_base, a list of them, or a struct), with return_fields only if given.",
		call: s.getSites})
	s.add(method{name: "AddSite", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds a site (name, abbreviated_name and login_base required) and returns its site_id. It receives the configured number of shares.",
		call: s.addSite})
	s.add(method{name: "UpdateSite", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates a site (by site_id or login_base). A PI of the site may change its name, abbreviated_name, url, is_public, latitude and longitude; admins anything.",
		call: s.updateSite})
	s.add(method{name: "DeleteSite", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a site with its nodes and slices.",
		call: s.deleteSite})
}

func (s *Service) getSites(ctx context.Context, c *Caller, args []any) (any, error) {
	return taggedGetter(s, ctx, c, args, siteKind, "site", "site_id", func(t *txn, q store.Query) ([]api.Site, error) { return t.Sites(q) },
		func(x *api.Site) any { return x.SiteID })
}

func (s *Service) addSite(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "site_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only(siteAdminFields...); err != nil {
		return nil, err
	}
	if err := f.require("name", "abbreviated_name", "login_base"); err != nil {
		return nil, err
	}
	site := api.Site{Enabled: true, IsPublic: true, MaxSlivers: 1000, Shares: s.siteShares}
	if err := setSiteFields(f, &site); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error { return t.AddSite(&site) })
	return site.SiteID, err
}

func setSiteFields(f *fieldSet, site *api.Site) error {
	f.str("name", &site.Name)
	f.str("abbreviated_name", &site.AbbreviatedName)
	f.str("login_base", &site.LoginBase)
	f.bool("is_public", &site.IsPublic)
	f.bool("enabled", &site.Enabled)
	f.float("latitude", &site.Latitude)
	f.float("longitude", &site.Longitude)
	f.str("url", &site.URL)
	f.int("max_slices", &site.MaxSlices)
	f.int("max_slivers", &site.MaxSlivers)
	f.int("shares", &site.Shares)
	if f.err != nil {
		return f.err
	}
	switch {
	case site.Name == "":
		return Faultf(FaultInvalidArg, "site_fields.name: empty")
	case !loginBaseRE().MatchString(site.LoginBase):
		return Faultf(FaultInvalidArg, "site_fields.login_base: %q is not 1 to 32 of [a-z0-9.] starting with a letter or digit", site.LoginBase)
	case site.MaxSlices < 0, site.MaxSlivers < 0, site.Shares < 0:
		return Faultf(FaultInvalidArg, "site_fields: max_slices, max_slivers and shares cannot be negative")
	case site.Latitude != nil && (*site.Latitude < -90 || *site.Latitude > 90):
		return Faultf(FaultInvalidArg, "site_fields.latitude: %v is not in [-90, 90]", *site.Latitude)
	case site.Longitude != nil && (*site.Longitude < -180 || *site.Longitude > 180):
		return Faultf(FaultInvalidArg, "site_fields.longitude: %v is not in [-180, 180]", *site.Longitude)
	}
	return nil
}

func (s *Service) updateSite(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "site_fields")
	if err != nil {
		return nil, err
	}
	if err := f.only(siteAdminFields...); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		site, err := t.site(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageSite(site.SiteID, "update site "+site.LoginBase); err != nil {
			return err
		}
		if !c.IsAdmin() {
			if err := f.only(sitePIFields...); err != nil {
				return denied("a PI may change only %v of a site", sitePIFields)
			}
		}
		old := *site
		if err := setSiteFields(f, site); err != nil {
			return err
		}
		if err := t.checkSiteChange(&old, site); err != nil {
			return err
		}
		return t.UpdateSite(site)
	})
	return int64(1), err
}

// checkSiteChange refuses a new login_base while slices carry the old one,
// and shares below what the site's slices hold.
func (t *txn) checkSiteChange(old, site *api.Site) error {
	if old.LoginBase != site.LoginBase && len(site.SliceIDs) > 0 {
		return Faultf(FaultInvalidArg, "site_fields.login_base: site %s has slices named after it; delete them first", old.LoginBase)
	}
	if site.Shares < old.Shares {
		used, err := t.siteSharesUsed(site.SiteID, 0)
		if err != nil {
			return err
		}
		if used > site.Shares {
			return Faultf(FaultInvalidArg, "site_fields.shares: the slices of %s hold %d shares; take shares from them first", site.LoginBase, used)
		}
	}
	return nil
}

func (s *Service) deleteSite(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		site, err := t.site(ref)
		if err != nil {
			return err
		}
		if err := t.bumpSlices(site.SliceIDs); err != nil {
			return err
		}
		t.bumped = without(t.bumped, site.NodeIDs)
		t.notified = append(t.notified, site.NodeIDs...)
		return t.DeleteSite(site.SiteID)
	})
	return int64(1), err
}

// without returns ids minus drop.
func without(ids, drop []int64) []int64 {
	var out []int64
	for _, id := range ids {
		if !contains(drop, id) {
			out = append(out, id)
		}
	}
	return out
}

// bumpSlices bumps the nodes of the live slices among ids.
func (t *txn) bumpSlices(ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	slices, err := t.Slices(store.Query{Conds: []store.Cond{{Field: "slice_id", Op: store.Eq, Value: anyList(ids)}, t.liveCond()}})
	for _, sl := range slices {
		t.bump(sl.NodeIDs...)
	}
	return err
}
