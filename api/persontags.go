package api

// PersonTag is one tag of a person, as PLCAPI's PersonTag has it.
type PersonTag struct {
	PersonTagID int64  `json:"person_tag_id"`
	PersonID    int64  `json:"person_id"`
	Email       string `json:"email"`
	TagTypeID   int64  `json:"tag_type_id"`
	TagName     string `json:"tagname"`
	Value       string `json:"value"`
	Category    string `json:"category"`
	Description string `json:"description"`
}
