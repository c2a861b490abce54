package store

import (
	"database/sql"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// addressTypeTable is what an address type Query may name.
var addressTypeTable = &table{
	kind: "address type", from: "address_types t", pk: "t.address_type_id",
	cols: map[string]column{
		"address_type_id": {"t.address_type_id", kInt, false}, "name": {"t.name", kString, false},
		"description": {"t.description", kString, false},
	},
}

const addressTypeCols = "t.address_type_id, t.name, t.description"

func scanAddressType(r *sql.Rows) (api.AddressType, error) {
	var a api.AddressType
	return a, r.Scan(&a.AddressTypeID, &a.Name, &a.Description)
}

// AddressTypes lists address types.
func (t *tx) AddressTypes(q Query) ([]api.AddressType, error) {
	return list(t, addressTypeTable, addressTypeCols, q, scanAddressType)
}

// AddAddressType adds an address type; ErrConflict if its name is taken.
func (t *tx) AddAddressType(a *api.AddressType) error {
	if err := t.writable(); err != nil {
		return err
	}
	id, err := t.insert("address_types", "address_type_id", []string{"name", "description"}, []any{a.Name, a.Description},
		fmt.Errorf("%w: address type %q exists", ErrConflict, a.Name))
	if err != nil {
		return err
	}
	a.AddressTypeID = id
	return t.event("AddAddressType", "address type", id, fields(a))
}

// UpdateAddressType writes an address type's name and description.
func (t *tx) UpdateAddressType(a *api.AddressType) error {
	if err := t.writable(); err != nil {
		return err
	}
	conflict := fmt.Errorf("%w: address type %q exists", ErrConflict, a.Name)
	if taken, err := t.taken("address_types", "address_type_id", "name", false, a.Name, a.AddressTypeID); err != nil {
		return err
	} else if taken {
		return conflict
	}
	if err := t.update("address_types", "address_type_id", a.AddressTypeID, []string{"name", "description"}, []any{a.Name, a.Description}, conflict); err != nil {
		return err
	}
	return t.event("UpdateAddressType", "address type", a.AddressTypeID, fields(a))
}

// DeleteAddressType deletes an address type, and takes it off addresses.
func (t *tx) DeleteAddressType(id int64) error {
	return t.deleteRow("address_types", "address_type_id", "address type", "DeleteAddressType", id)
}

// addressTable is what an address Query may name.
var addressTable = &table{
	kind: "address", from: "addresses t", pk: "t.address_id",
	cols: map[string]column{
		"address_id": {"t.address_id", kInt, false}, "site_id": {"t.site_id", kInt, false},
		"line1": {"t.line1", kString, false}, "line2": {"t.line2", kString, false}, "line3": {"t.line3", kString, false},
		"city": {"t.city", kString, false}, "state": {"t.state", kString, false},
		"postalcode": {"t.postalcode", kString, false}, "country": {"t.country", kString, false},
	},
	lists: map[string]listCol{
		"address_type_ids": {table: "address_address_types", owner: "address_id", member: "address_type_id"},
	},
}

const addressCols = "t.address_id, t.site_id, t.line1, t.line2, t.line3, t.city, t.state, t.postalcode, t.country"

func scanAddress(r *sql.Rows) (api.Address, error) {
	var a api.Address
	err := r.Scan(&a.AddressID, &a.SiteID, &a.Line1, &a.Line2, &a.Line3, &a.City, &a.State, &a.PostalCode, &a.Country)
	a.AddressTypeIDs, a.AddressTypes = []int64{}, []string{}
	return a, err
}

// Addresses lists addresses, each with its types (ids and names, in id
// order).
func (t *tx) Addresses(q Query) ([]api.Address, error) {
	addrs, err := list(t, addressTable, addressCols, q, scanAddress)
	if err != nil || len(addrs) == 0 {
		return addrs, err
	}
	at := make(map[int64]int, len(addrs))
	ids := make([]any, len(addrs))
	for i, a := range addrs {
		at[a.AddressID], ids[i] = i, a.AddressID
	}
	sel := "SELECT m.address_id, m.address_type_id, y.name FROM address_address_types m JOIN address_types y ON y.address_type_id = m.address_type_id"
	if len(ids) <= maxInList {
		sel += " WHERE m.address_id IN (" + placeholders("?", len(ids)) + ")"
	} else {
		ids = nil // read them all: a query holds a bounded number of parameters
	}
	type typed struct {
		addr, typ int64
		name      string
	}
	types, err := scanAll(t, t.d.rebind(sel+" ORDER BY m.address_id, m.address_type_id"), ids, func(r *sql.Rows) (typed, error) {
		var x typed
		return x, r.Scan(&x.addr, &x.typ, &x.name)
	})
	if err != nil {
		return nil, fmt.Errorf("list address types: %w", err)
	}
	for _, x := range types {
		if i, ok := at[x.addr]; ok {
			addrs[i].AddressTypeIDs, addrs[i].AddressTypes = append(addrs[i].AddressTypeIDs, x.typ), append(addrs[i].AddressTypes, x.name)
		}
	}
	return addrs, nil
}

func addressValues(a *api.Address) ([]string, []any) {
	return []string{"line1", "line2", "line3", "city", "state", "postalcode", "country"},
		[]any{a.Line1, a.Line2, a.Line3, a.City, a.State, a.PostalCode, a.Country}
}

// AddAddress adds an address to its site.
func (t *tx) AddAddress(a *api.Address) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("sites", "site_id", a.SiteID); err != nil {
		return err
	}
	cols, vals := addressValues(a)
	id, err := t.insert("addresses", "address_id", append(cols, "site_id"), append(vals, a.SiteID), fmt.Errorf("%w: address exists", ErrConflict))
	if err != nil {
		return err
	}
	a.AddressID, a.AddressTypeIDs, a.AddressTypes = id, []int64{}, []string{}
	return t.event("AddAddress", "address", id, map[string]any{"site_id": a.SiteID})
}

// UpdateAddress writes an address's lines (not its site or types).
func (t *tx) UpdateAddress(a *api.Address) error {
	if err := t.writable(); err != nil {
		return err
	}
	cols, vals := addressValues(a)
	if err := t.update("addresses", "address_id", a.AddressID, cols, vals, nil); err != nil {
		return err
	}
	return t.event("UpdateAddress", "address", a.AddressID, nil)
}

// DeleteAddress deletes an address.
func (t *tx) DeleteAddress(id int64) error {
	return t.deleteRow("addresses", "address_id", "address", "DeleteAddress", id)
}

// AddAddressTypeToAddress is idempotent.
func (t *tx) AddAddressTypeToAddress(typeID, addressID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("address_types", "address_type_id", typeID); err != nil {
		return err
	}
	if err := t.exists("addresses", "address_id", addressID); err != nil {
		return err
	}
	if _, err := t.exec("INSERT INTO address_address_types (address_id, address_type_id) VALUES (?, ?) ON CONFLICT DO NOTHING", addressID, typeID); err != nil {
		return fmt.Errorf("add address type to address: %w", err)
	}
	return t.event("AddAddressTypeToAddress", "address", addressID, map[string]any{"address_type_id": typeID})
}

// DeleteAddressTypeFromAddress is idempotent.
func (t *tx) DeleteAddressTypeFromAddress(typeID, addressID int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM address_address_types WHERE address_id = ? AND address_type_id = ?", addressID, typeID); err != nil {
		return fmt.Errorf("delete address type from address: %w", err)
	}
	return t.event("DeleteAddressTypeFromAddress", "address", addressID, map[string]any{"address_type_id": typeID})
}

// deleteRow deletes the row of table whose pk is id, or returns
// ErrNotFound, and logs action.
func (t *tx) deleteRow(table, pk, kind, action string, id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("DELETE FROM "+table+" WHERE "+pk+" = ?", id)
	if err != nil {
		return fmt.Errorf("delete %s: %w", kind, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %d: %w", kind, id, ErrNotFound)
	}
	return t.event(action, kind, id, nil)
}
