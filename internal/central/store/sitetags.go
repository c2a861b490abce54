package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// siteTagTable is what a site tag Query may name.
var siteTagTable = &table{
	kind: "site tag", from: "site_tags t JOIN sites s ON s.site_id = t.site_id JOIN tag_types y ON y.tag_type_id = t.tag_type_id",
	pk: "t.site_tag_id",
	cols: map[string]column{
		"site_tag_id": {"t.site_tag_id", kInt, false}, "site_id": {"t.site_id", kInt, false},
		"login_base": {"s.login_base", kString, false}, "tag_type_id": {"t.tag_type_id", kInt, false},
		"tagname": {"y.tagname", kString, false}, "value": {"t.value", kString, false},
		"category": {"y.category", kString, false}, "description": {"y.description", kString, false},
	},
}

const siteTagCols = "t.site_tag_id, t.site_id, s.login_base, t.tag_type_id, y.tagname, t.value, y.category, y.description"

func scanSiteTag(r *sql.Rows) (api.SiteTag, error) {
	var a api.SiteTag
	return a, r.Scan(&a.SiteTagID, &a.SiteID, &a.LoginBase, &a.TagTypeID, &a.TagName, &a.Value, &a.Category, &a.Description)
}

// SiteTags lists site tags with their type's name, category and
// description.
func (t *tx) SiteTags(q Query) ([]api.SiteTag, error) {
	return list(t, siteTagTable, siteTagCols, q, scanSiteTag)
}

// AddSiteTag adds a tag to a site; ErrConflict if the site has one of
// that type.
func (t *tx) AddSiteTag(a *api.SiteTag) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("sites", "site_id", a.SiteID); err != nil {
		return err
	}
	if err := t.exists("tag_types", "tag_type_id", a.TagTypeID); err != nil {
		return err
	}
	id, err := t.insert("site_tags", "site_tag_id", []string{"site_id", "tag_type_id", "value"}, []any{a.SiteID, a.TagTypeID, a.Value},
		fmt.Errorf("%w: site %d has a tag of type %d already", ErrConflict, a.SiteID, a.TagTypeID))
	if err != nil {
		return err
	}
	a.SiteTagID = id
	return t.event("AddSiteTag", "site tag", id, map[string]any{"site_id": a.SiteID, "tag_type_id": a.TagTypeID})
}

// UpdateSiteTag writes a site tag's value.
func (t *tx) UpdateSiteTag(id int64, value string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update("site_tags", "site_tag_id", id, []string{"value"}, []any{value}, nil); err != nil {
		return err
	}
	return t.event("UpdateSiteTag", "site tag", id, nil)
}

// DeleteSiteTag deletes a site tag.
func (t *tx) DeleteSiteTag(id int64) error {
	return t.deleteRow("site_tags", "site_tag_id", "site tag", "DeleteSiteTag", id)
}
