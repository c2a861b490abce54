package api

// SiteTag is one tag of a site, as PLCAPI's SiteTag has it.
type SiteTag struct {
	SiteTagID   int64  `json:"site_tag_id"`
	SiteID      int64  `json:"site_id"`
	LoginBase   string `json:"login_base"`
	TagTypeID   int64  `json:"tag_type_id"`
	TagName     string `json:"tagname"`
	Value       string `json:"value"`
	Category    string `json:"category"`
	Description string `json:"description"`
}
