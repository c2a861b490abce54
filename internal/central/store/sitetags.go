package store

import (
	"database/sql"

	"github.com/orbisproject/orbis/api"
)

// siteTags are the sites' tags.
var siteTags = newObjectTagTable("site", "Site", "sites", "login_base", false)

func scanSiteTag(r *sql.Rows) (api.SiteTag, error) {
	var a api.SiteTag
	return a, r.Scan(&a.SiteTagID, &a.SiteID, &a.LoginBase, &a.TagTypeID, &a.TagName, &a.Value, &a.Category, &a.Description)
}

// SiteTags lists site tags with their type's name, category and
// description.
func (t *tx) SiteTags(q Query) ([]api.SiteTag, error) {
	return list(t, siteTags.q, siteTags.cols, q, scanSiteTag)
}

// AddSiteTag adds a tag to a site; ErrConflict if the site has one of
// that type.
func (t *tx) AddSiteTag(a *api.SiteTag) error {
	return t.addTag(siteTags, &a.SiteTagID, a.SiteID, a.TagTypeID, a.Value)
}

// UpdateSiteTag writes a site tag's value.
func (t *tx) UpdateSiteTag(id int64, value string) error {
	return t.updateTag(siteTags, id, value)
}

// DeleteSiteTag deletes a site tag.
func (t *tx) DeleteSiteTag(id int64) error {
	return t.deleteTag(siteTags, id)
}
