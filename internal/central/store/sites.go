package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// siteTable is what a site Query may name.
var siteTable = &table{
	kind: "site", from: "sites t", pk: "t.site_id",
	cols: map[string]column{
		"site_id": {"t.site_id", kInt, false}, "name": {"t.name", kString, false},
		"abbreviated_name": {"t.abbreviated_name", kString, false},
		"login_base":       {"t.login_base", kString, false},
		"is_public":        {"t.is_public", kBool, false}, "enabled": {"t.enabled", kBool, false},
		"latitude": {"t.latitude", kFloat, false}, "longitude": {"t.longitude", kFloat, false},
		"url": {"t.url", kString, false}, "max_slices": {"t.max_slices", kInt, false},
		"max_slivers": {"t.max_slivers", kInt, false}, "shares": {"t.shares", kInt, false},
		"date_created": {"t.date_created", kInt, false}, "last_updated": {"t.last_updated", kInt, false},
	},
	lists: map[string]listCol{
		"person_ids":  {table: "person_sites", owner: "site_id", member: "person_id"},
		"slice_ids":   {table: "slices", owner: "site_id", member: "slice_id"},
		"node_ids":    {table: "nodes", owner: "site_id", member: "node_id"},
		"address_ids": {table: "addresses", owner: "site_id", member: "address_id"},
		"pcu_ids":     {table: "pcus", owner: "site_id", member: "pcu_id"},
	},
}

// siteListFields are a site's list fields, left out of change details.
var siteListFields = []string{"person_ids", "slice_ids", "node_ids", "address_ids", "pcu_ids"}

func (t *tx) siteCols() string {
	return "t.site_id, t.name, t.abbreviated_name, t.login_base, t.is_public, t.enabled, " +
		"t.latitude, t.longitude, t.url, t.max_slices, t.max_slivers, t.shares, " +
		"t.date_created, t.last_updated, " +
		t.d.listAgg("person_id", "person_sites", "site_id = t.site_id") + ", " +
		t.d.listAgg("slice_id", "slices", "site_id = t.site_id") + ", " +
		t.d.listAgg("node_id", "nodes", "site_id = t.site_id") + ", " +
		t.d.listAgg("address_id", "addresses", "site_id = t.site_id") + ", " +
		t.d.listAgg("pcu_id", "pcus", "site_id = t.site_id")
}

func scanSite(r *sql.Rows) (api.Site, error) {
	var s api.Site
	var lat, lon sql.NullFloat64
	var persons, slices, nodes, addresses, pcus sql.NullString
	err := r.Scan(&s.SiteID, &s.Name, &s.AbbreviatedName, &s.LoginBase, &s.IsPublic, &s.Enabled,
		&lat, &lon, &s.URL, &s.MaxSlices, &s.MaxSlivers, &s.Shares, &s.DateCreated, &s.LastUpdated,
		&persons, &slices, &nodes, &addresses, &pcus)
	if lat.Valid {
		s.Latitude = &lat.Float64
	}
	if lon.Valid {
		s.Longitude = &lon.Float64
	}
	s.PersonIDs, s.SliceIDs, s.NodeIDs = idList(persons), idList(slices), idList(nodes)
	s.AddressIDs, s.PCUIDs = idList(addresses), idList(pcus)
	return s, err
}

// Sites lists sites.
func (t *tx) Sites(q Query) ([]api.Site, error) {
	return list(t, siteTable, t.siteCols(), q, scanSite)
}

// siteValues are the scalar columns a write sets.
func siteValues(s *api.Site) ([]string, []any) {
	return []string{"name", "abbreviated_name", "login_base", "is_public", "enabled", "latitude",
			"longitude", "url", "max_slices", "max_slivers", "shares", "last_updated"},
		[]any{s.Name, s.AbbreviatedName, s.LoginBase, s.IsPublic, s.Enabled, s.Latitude,
			s.Longitude, s.URL, s.MaxSlices, s.MaxSlivers, s.Shares, s.LastUpdated}
}

// AddSite adds a site.
func (t *tx) AddSite(s *api.Site) error {
	if err := t.writable(); err != nil {
		return err
	}
	s.DateCreated, s.LastUpdated = t.now, t.now
	cols, vals := siteValues(s)
	id, err := t.insert("sites", "site_id", append(cols, "date_created"), append(vals, s.DateCreated),
		fmt.Errorf("%w: login_base %q exists", ErrConflict, s.LoginBase))
	if err != nil {
		return err
	}
	s.SiteID = id
	return t.event("AddSite", "site", id, fields(s, siteListFields...))
}

// UpdateSite writes a site's scalar fields.
func (t *tx) UpdateSite(s *api.Site) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, siteTable, t.siteCols(), "site_id", s.SiteID, scanSite)
	if err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: login_base %q exists", ErrConflict, s.LoginBase)
	if prev.LoginBase != s.LoginBase {
		if taken, err := t.taken("sites", "site_id", "login_base", false, s.LoginBase, s.SiteID); err != nil {
			return err
		} else if taken {
			return conflict
		}
	}
	s.DateCreated, s.LastUpdated = prev.DateCreated, t.now
	cols, vals := siteValues(s)
	if err := t.update("sites", "site_id", s.SiteID, cols, vals, conflict); err != nil {
		return err
	}
	return t.event("UpdateSite", "site", s.SiteID, changed(prev, s, append(siteListFields, "last_updated")...))
}

// DeleteSite deletes a site, its nodes and its slices.
func (t *tx) DeleteSite(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, siteTable, t.siteCols(), "site_id", id, scanSite)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM sites WHERE site_id = ?", id); err != nil {
		return fmt.Errorf("delete site: %w", err)
	}
	return t.event("DeleteSite", "site", id, map[string]any{
		"login_base": prev.LoginBase, "node_ids": prev.NodeIDs, "slice_ids": prev.SliceIDs})
}
