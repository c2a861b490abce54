package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// interfaceTable is what an interface Query may name.
var interfaceTable = &table{
	kind: "interface", from: "interfaces t", pk: "t.interface_id",
	cols: map[string]column{
		"interface_id": {"t.interface_id", kInt, false}, "node_id": {"t.node_id", kInt, false},
		"is_primary": {"t.is_primary", kBool, false}, "type": {"t.type", kString, false},
		"method": {"t.method", kString, false}, "ip": {"t.ip", kString, false},
		"mac": {"t.mac", kString, true}, "gateway": {"t.gateway", kString, false},
		"network": {"t.network", kString, false}, "broadcast": {"t.broadcast", kString, false},
		"netmask": {"t.netmask", kString, false}, "dns1": {"t.dns1", kString, false},
		"dns2": {"t.dns2", kString, false}, "bwlimit": {"t.bwlimit", kInt, false},
		"hostname": {"t.hostname", kString, true}, "last_updated": {"t.last_updated", kInt, false},
	},
	lists: map[string]listCol{
		"interface_tag_ids": {table: "interface_tags", owner: "interface_id", member: "interface_tag_id"},
	},
}

// interfaceListFields are an interface's list fields, left out of change
// details.
var interfaceListFields = []string{"interface_tag_ids"}

func (t *tx) interfaceCols() string {
	return "t.interface_id, t.node_id, t.is_primary, t.type, t.method, t.ip, t.mac, t.gateway, " +
		"t.network, t.broadcast, t.netmask, t.dns1, t.dns2, t.bwlimit, t.hostname, t.last_updated, " +
		t.d.listAgg("interface_tag_id", "interface_tags", "interface_id = t.interface_id")
}

func scanInterface(r *sql.Rows) (api.Interface, error) {
	var i api.Interface
	var bw sql.NullInt64
	var tags sql.NullString
	err := r.Scan(&i.InterfaceID, &i.NodeID, &i.IsPrimary, &i.Type, &i.Method, &i.IP, &i.MAC, &i.Gateway,
		&i.Network, &i.Broadcast, &i.Netmask, &i.DNS1, &i.DNS2, &bw, &i.Hostname, &i.LastUpdated, &tags)
	i.InterfaceTagIDs = idList(tags)
	if bw.Valid {
		i.BWLimit = &bw.Int64
	}
	return i, err
}

// Interfaces lists network interfaces.
func (t *tx) Interfaces(q Query) ([]api.Interface, error) {
	return list(t, interfaceTable, t.interfaceCols(), q, scanInterface)
}

func interfaceValues(i *api.Interface) ([]string, []any) {
	return []string{"is_primary", "type", "method", "ip", "mac", "gateway", "network", "broadcast",
			"netmask", "dns1", "dns2", "bwlimit", "hostname", "last_updated"},
		[]any{i.IsPrimary, i.Type, i.Method, i.IP, i.MAC, i.Gateway, i.Network, i.Broadcast,
			i.Netmask, i.DNS1, i.DNS2, i.BWLimit, i.Hostname, i.LastUpdated}
}

// AddInterface adds an interface to its node. If it is primary, the
// node's other interfaces stop being.
func (t *tx) AddInterface(i *api.Interface) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("nodes", "node_id", i.NodeID); err != nil {
		return err
	}
	if err := t.onePrimary(i); err != nil {
		return err
	}
	i.LastUpdated = t.now
	cols, vals := interfaceValues(i)
	id, err := t.insert("interfaces", "interface_id", append(cols, "node_id"), append(vals, i.NodeID),
		fmt.Errorf("%w: interface exists", ErrConflict))
	if err != nil {
		return err
	}
	i.InterfaceID = id
	return t.event("AddInterface", "interface", id, fields(i, interfaceListFields...))
}

// UpdateInterface writes an interface's fields but its node.
func (t *tx) UpdateInterface(i *api.Interface) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, interfaceTable, t.interfaceCols(), "interface_id", i.InterfaceID, scanInterface)
	if err != nil {
		return err
	}
	i.NodeID, i.LastUpdated = prev.NodeID, t.now
	if err := t.onePrimary(i); err != nil {
		return err
	}
	cols, vals := interfaceValues(i)
	if err := t.update("interfaces", "interface_id", i.InterfaceID, cols, vals, nil); err != nil {
		return err
	}
	return t.event("UpdateInterface", "interface", i.InterfaceID, changed(prev, i, append(interfaceListFields, "last_updated")...))
}

// onePrimary clears is_primary on the node's other interfaces when i is
// primary.
func (t *tx) onePrimary(i *api.Interface) error {
	if !i.IsPrimary {
		return nil
	}
	if _, err := t.exec("UPDATE interfaces SET is_primary = ? WHERE node_id = ? AND interface_id <> ?", false, i.NodeID, i.InterfaceID); err != nil {
		return fmt.Errorf("update interfaces: %w", err)
	}
	return nil
}

// DeleteInterface deletes an interface.
func (t *tx) DeleteInterface(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, interfaceTable, t.interfaceCols(), "interface_id", id, scanInterface)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM interfaces WHERE interface_id = ?", id); err != nil {
		return fmt.Errorf("delete interface: %w", err)
	}
	return t.event("DeleteInterface", "interface", id, map[string]any{"node_id": prev.NodeID})
}
