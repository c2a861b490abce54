package store

import (
	"database/sql"
	"fmt"
)

// InterfaceTag is PLCAPI's InterfaceTag: a value of a tag type on a
// network interface (whose ip it lists).
type InterfaceTag struct {
	InterfaceTagID int64  `json:"interface_tag_id"`
	InterfaceID    int64  `json:"interface_id"`
	IP             string `json:"ip"`
	TagTypeID      int64  `json:"tag_type_id"`
	TagName        string `json:"tagname"`
	Value          string `json:"value"`
	Category       string `json:"category"`
	Description    string `json:"description"`
}

// interfaceTags are the interfaces' tags.
var interfaceTags = newObjectTagTable("interface", "Interface", "interfaces", "ip", false)

func scanInterfaceTag(r *sql.Rows) (InterfaceTag, error) {
	var a InterfaceTag
	return a, r.Scan(&a.InterfaceTagID, &a.InterfaceID, &a.IP, &a.TagTypeID, &a.TagName, &a.Value, &a.Category, &a.Description)
}

// InterfaceTags lists interface tags with their type's name, category
// and description.
func (t *tx) InterfaceTags(q Query) ([]InterfaceTag, error) {
	return list(t, interfaceTags.q, interfaceTags.cols, q, scanInterfaceTag)
}

// AddInterfaceTag adds a tag to an interface; ErrConflict if the
// interface has one of that type.
func (t *tx) AddInterfaceTag(a *InterfaceTag) error {
	return t.addTag(interfaceTags, &a.InterfaceTagID, a.InterfaceID, a.TagTypeID, a.Value)
}

// UpdateInterfaceTag writes an interface tag's value.
func (t *tx) UpdateInterfaceTag(id int64, value string) error {
	return t.updateTag(interfaceTags, id, value)
}

// DeleteInterfaceTag deletes an interface tag.
func (t *tx) DeleteInterfaceTag(id int64) error {
	return t.deleteTag(interfaceTags, id)
}

// Ilink is PLCAPI's Ilink: a link from one interface to another (or
// itself), a value of a tag type. Deleting either interface deletes it.
type Ilink struct {
	IlinkID        int64  `json:"ilink_id"`
	TagTypeID      int64  `json:"tag_type_id"`
	SrcInterfaceID int64  `json:"src_interface_id"`
	DstInterfaceID int64  `json:"dst_interface_id"`
	Value          string `json:"value"`
}

// ilinkTable is what an ilink Query may name.
var ilinkTable = &table{
	kind: "ilink", from: "ilinks t", pk: "t.ilink_id",
	cols: map[string]column{
		"ilink_id": {"t.ilink_id", kInt, false}, "tag_type_id": {"t.tag_type_id", kInt, false},
		"src_interface_id": {"t.src_interface_id", kInt, false}, "dst_interface_id": {"t.dst_interface_id", kInt, false},
		"value": {"t.value", kString, false},
	},
}

const ilinkCols = "t.ilink_id, t.tag_type_id, t.src_interface_id, t.dst_interface_id, t.value"

func scanIlink(r *sql.Rows) (Ilink, error) {
	var l Ilink
	return l, r.Scan(&l.IlinkID, &l.TagTypeID, &l.SrcInterfaceID, &l.DstInterfaceID, &l.Value)
}

// Ilinks lists interface links.
func (t *tx) Ilinks(q Query) ([]Ilink, error) {
	return list(t, ilinkTable, ilinkCols, q, scanIlink)
}

// AddIlink adds a link; ErrConflict if one of its type joins the two
// interfaces already.
func (t *tx) AddIlink(l *Ilink) error {
	if err := t.writable(); err != nil {
		return err
	}
	for _, id := range []int64{l.SrcInterfaceID, l.DstInterfaceID} {
		if err := t.exists("interfaces", "interface_id", id); err != nil {
			return err
		}
	}
	if err := t.exists("tag_types", "tag_type_id", l.TagTypeID); err != nil {
		return err
	}
	id, err := t.insert("ilinks", "ilink_id", []string{"tag_type_id", "src_interface_id", "dst_interface_id", "value"},
		[]any{l.TagTypeID, l.SrcInterfaceID, l.DstInterfaceID, l.Value},
		fmt.Errorf("%w: an ilink of type %d from interface %d to %d exists", ErrConflict, l.TagTypeID, l.SrcInterfaceID, l.DstInterfaceID))
	if err != nil {
		return err
	}
	l.IlinkID = id
	return t.event("AddIlink", "ilink", id, fields(l))
}

// UpdateIlink writes a link's value.
func (t *tx) UpdateIlink(id int64, value string) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.update("ilinks", "ilink_id", id, []string{"value"}, []any{value}, nil); err != nil {
		return err
	}
	return t.event("UpdateIlink", "ilink", id, nil)
}

// DeleteIlink deletes a link.
func (t *tx) DeleteIlink(id int64) error {
	return t.deleteRow("ilinks", "ilink_id", "ilink", "DeleteIlink", id)
}
