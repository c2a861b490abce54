package plc

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxIlinksPerInterface bounds the links that leave one interface: each
// is a row its node's PI or tech adds.
const maxIlinksPerInterface = 256

var (
	interfaceTagKind = newKind("interface tag", store.InterfaceTag{}, "interface_tag_id", "")
	ilinkKind        = newKind("ilink", store.Ilink{}, "ilink_id", "")
)

// interfaceTags are the interfaces' tags: admins, and PIs and techs of
// the interface's node's site, as PLCAPI's AddInterfaceTag has it. Orbis
// nodes read no interface or its tags (they configure their own network),
// so a change wakes no node.
var interfaceTags = &objectTagKind[api.Interface, store.InterfaceTag]{
	tag: interfaceTagKind, noun: "interface", idField: "interface_id", refArg: "interface_id",
	object: (*txn).iface,
	id:     func(i *api.Interface) int64 { return i.InterfaceID },
	name:   func(i *api.Interface) string { return i.IP },
	mayObject: func(t *txn, i *api.Interface) error {
		return t.mayManageInterface(i, "tag an interface of")
	},
	list: func(t *txn, q store.Query) ([]store.InterfaceTag, error) { return t.InterfaceTags(q) },
	row: func(x *store.InterfaceTag) tagRow {
		return tagRow{x.InterfaceTagID, x.InterfaceID, x.TagTypeID, x.TagName, x.Value}
	},
	add: func(t *txn, id, typeID int64, value string) (int64, error) {
		tag := store.InterfaceTag{InterfaceID: id, TagTypeID: typeID, Value: value}
		err := t.AddInterfaceTag(&tag)
		return tag.InterfaceTagID, err
	},
	update: func(t *txn, id int64, v string) error { return t.UpdateInterfaceTag(id, v) },
	remove: func(t *txn, id int64) error { return t.DeleteInterfaceTag(id) },
}

func (s *Service) registerIlinks() {
	s.add(method{name: "GetInterfaceTags", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the interface tags that match the filter (an interface_tag_id, a list of them, or a struct: interface_id, ip, tagname, value...). Orbis nodes do not read them.",
		call: s.getInterfaceTags})
	interfaceTags.register(s, "Interface", rolesNodes, ". Admins, and PIs and techs of the interface's node's site who hold one of the tag type's roles.")
	s.add(method{name: "GetIlinks", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the links between interfaces that match the filter (an ilink_id, a list of them, or a struct: src_interface_id, dst_interface_id, tag_type_id, value). Orbis keeps them as PLCAPI does; its nodes do not read them.",
		call: s.getIlinks})
	s.add(method{name: "AddIlink", roles: rolesNodes, min: 3, max: 4, sig: []string{"int", "int", "int", "int", "string"},
		help: "Links interface src_interface_id to dst_interface_id (the same one, or another) with a value of a tag type (by tag_type_id or tagname) and returns its ilink_id; one link of a type joins two interfaces. Admins, and PIs and techs of both interfaces' nodes' sites who hold one of the tag type's roles; at most " + strconv.Itoa(maxIlinksPerInterface) + " links leave an interface.",
		call: s.addIlink})
	s.add(method{name: "UpdateIlink", roles: rolesNodes, min: 2, max: 2, sig: []string{"int", "int", "string"},
		help: "Sets a link's value, with AddIlink's rights.",
		call: s.tagWriter("ilink_id", (*txn).ownIlink, func(t *txn, id int64, v string) error { return t.UpdateIlink(id, v) }, nil)})
	s.add(method{name: "DeleteIlink", roles: rolesNodes, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a link, with AddIlink's rights. Deleting either interface deletes its links.",
		call: s.tagWriter("ilink_id", (*txn).ownIlink, nil, func(t *txn, id int64) error { return t.DeleteIlink(id) })})
}

func (s *Service) getInterfaceTags(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, interfaceTagKind, func(t *txn, q store.Query) ([]store.InterfaceTag, error) { return t.InterfaceTags(q) },
		func(x *store.InterfaceTag) any { return x.InterfaceTagID }, nil)
}

func (s *Service) getIlinks(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, ilinkKind, func(t *txn, q store.Query) ([]store.Ilink, error) { return t.Ilinks(q) },
		func(x *store.Ilink) any { return x.IlinkID }, nil)
}

func (s *Service) addIlink(ctx context.Context, c *Caller, args []any) (any, error) {
	src, err := argInt(args, 0, "src_interface_id")
	if err != nil {
		return nil, err
	}
	dst, err := argInt(args, 1, "dst_interface_id")
	if err != nil {
		return nil, err
	}
	tref, err := argRef(args, 2, "tag_type_id_or_name")
	if err != nil {
		return nil, err
	}
	value := ""
	if optArg(args, 3) != nil {
		if value, err = tagValue(args, 3); err != nil {
			return nil, err
		}
	}
	l := store.Ilink{SrcInterfaceID: src, DstInterfaceID: dst, Value: value}
	err = s.update(ctx, c, func(t *txn) error {
		tt, err := t.tagType(tref)
		if err != nil {
			return err
		}
		l.TagTypeID = tt.TagTypeID
		if err := t.mayLink(&l, tt); err != nil {
			return err
		}
		have, err := t.Ilinks(store.Query{Conds: []store.Cond{{Field: "src_interface_id", Op: store.Eq, Value: src}}})
		if err != nil {
			return err
		}
		if len(have) >= maxIlinksPerInterface {
			return Faultf(FaultInvalidArg, "interface %d has %d links already (at most %d)", src, len(have), maxIlinksPerInterface)
		}
		return t.AddIlink(&l)
	})
	return l.IlinkID, err
}

// mayLink: admins; else those who may manage both interfaces' nodes and
// hold one of the link's tag type's roles. The value is bounded as a
// tag's.
func (t *txn) mayLink(l *store.Ilink, tt *api.TagType) error {
	for _, id := range []int64{l.SrcInterfaceID, l.DstInterfaceID} {
		i, err := t.iface(id)
		if err != nil {
			return err
		}
		if err := t.mayManageInterface(i, "link an interface of"); err != nil {
			return err
		}
	}
	if !t.c.IsAdmin() && !slices.ContainsFunc(tt.RoleIDs, t.c.Has) {
		return denied("links of type %s are for %s", tt.TagName, strings.Join(tt.Roles, ", "))
	}
	return checkTagValue(l.Value)
}

// ownIlink checks the caller's right to set link id to value (or delete
// it).
func (t *txn) ownIlink(id int64, value string) error {
	recs, err := t.Ilinks(store.ByID("ilink_id", id))
	l, err := one(ilinkKind, id, recs, err)
	if err != nil {
		return err
	}
	tt, err := t.tagType(l.TagTypeID)
	if err != nil {
		return err
	}
	l.Value = value
	return t.mayLink(l, tt)
}

// iface finds an interface by interface_id.
func (t *txn) iface(ref any) (*api.Interface, error) {
	id, ok := AsInt(ref)
	if !ok {
		return nil, Faultf(FaultInvalidArg, "interface_id: %v is not an interface_id", ref)
	}
	recs, err := t.Interfaces(store.ByID("interface_id", id))
	return one(interfaceKind, id, recs, err)
}

// mayManageInterface checks the caller may manage i's node (what: "tag
// an interface of").
func (t *txn) mayManageInterface(i *api.Interface, what string) error {
	n, err := t.node(i.NodeID)
	if err != nil {
		return err
	}
	return t.mayManageNodes(n.SiteID, what+" node "+n.Hostname)
}
