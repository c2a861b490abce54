package plc

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxAddressesPerSite bounds the addresses a site's PI may add.
const maxAddressesPerSite = 32

var (
	addressTypeKind = newKind("address type", api.AddressType{}, "address_type_id", "name")
	addressKind     = newKind("address", api.Address{}, "address_id", "")
	// addressLimits are PLCAPI's longest address fields, in characters.
	addressLimits = []fieldLimit{{"line1", 254}, {"line2", 254}, {"line3", 254}, {"city", 254}, {"state", 254}, {"postalcode", 64}, {"country", 128}}
)

// fieldLimit is the longest a string field may be, in characters.
type fieldLimit struct {
	name string
	max  int
}

func (s *Service) registerAddresses() {
	s.add(method{name: "GetAddressTypes", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the address types that match the filter (an id, a name, a list of them, or a struct).",
		call: s.getAddressTypes})
	s.add(method{name: "AddAddressType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: "Adds an address type ({name, description}: a unique name of at most 20 characters) and returns its address_type_id.",
		call: s.addAddressType})
	s.add(method{name: "UpdateAddressType", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Changes an address type's name or description (by address_type_id or name).",
		call: s.updateAddressType})
	s.add(method{name: "DeleteAddressType", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes an address type (by address_type_id or name), from every address.",
		call: s.deleteAddressType})
	s.add(method{name: "GetAddresses", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the sites' postal addresses that match the filter (an address_id, a list of them, or a struct), with their types.",
		call: s.getAddresses})
	s.add(method{name: "AddSiteAddress", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: fmt.Sprintf("Adds a postal address to a site (by site_id or login_base) and returns its address_id: line1, city, state, postalcode, country required, line2, line3. Admins and the site's PIs; at most %d per site.", maxAddressesPerSite),
		call: s.addSiteAddress})
	s.add(method{name: "UpdateAddress", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Updates an address's lines, with AddSiteAddress's rights.",
		call: s.updateAddress})
	s.add(method{name: "DeleteAddress", roles: rolesPI, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes an address, with AddSiteAddress's rights.",
		call: s.deleteAddress})
	s.add(method{name: "AddAddressTypeToAddress", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Gives an address (address_id) a type (by address_type_id or name), with AddSiteAddress's rights.",
		call: s.addressTypeOfAddress(true)})
	s.add(method{name: "DeleteAddressTypeFromAddress", roles: rolesPI, min: 2, max: 2, sig: []string{"int", "int", "int"},
		help: "Takes a type (by address_type_id or name) off an address (address_id), with AddSiteAddress's rights.",
		call: s.addressTypeOfAddress(false)})
}

func (s *Service) getAddressTypes(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, addressTypeKind, func(t *txn, q store.Query) ([]api.AddressType, error) { return t.AddressTypes(q) },
		func(x *api.AddressType) any { return x.AddressTypeID }, nil)
}

func (s *Service) getAddresses(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, addressKind, func(t *txn, q store.Query) ([]api.Address, error) { return t.Addresses(q) },
		func(x *api.Address) any { return x.AddressID }, nil)
}

func (s *Service) addAddressType(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "address_type_fields")
	if err != nil {
		return nil, err
	}
	if err := f.require("name"); err != nil {
		return nil, err
	}
	a := api.AddressType{}
	if err := setAddressTypeFields(f, &a); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error { return t.AddAddressType(&a) })
	return a.AddressTypeID, err
}

func (s *Service) updateAddressType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "address_type_id_or_name")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "address_type_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		a, err := t.addressType(ref)
		if err != nil {
			return err
		}
		if err := setAddressTypeFields(f, a); err != nil {
			return err
		}
		return t.UpdateAddressType(a)
	})
	return int64(1), err
}

func (s *Service) deleteAddressType(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "address_type_id_or_name")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		a, err := t.addressType(ref)
		if err != nil {
			return err
		}
		return t.DeleteAddressType(a.AddressTypeID)
	})
	return int64(1), err
}

func setAddressTypeFields(f *fieldSet, a *api.AddressType) error {
	if err := f.only("name", "description"); err != nil {
		return err
	}
	f.str("name", &a.Name)
	f.str("description", &a.Description)
	switch {
	case f.err != nil:
		return f.err
	case a.Name == "" || utf8.RuneCountInString(a.Name) > 20:
		return Faultf(FaultInvalidArg, "address_type_fields.name: 1 to 20 characters")
	case utf8.RuneCountInString(a.Description) > 254:
		return Faultf(FaultInvalidArg, "address_type_fields.description: longer than 254 characters")
	}
	return nil
}

func (s *Service) addSiteAddress(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "site_id_or_login_base")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "address_fields")
	if err != nil {
		return nil, err
	}
	if err := f.require("line1", "city", "state", "postalcode", "country"); err != nil {
		return nil, err
	}
	a := api.Address{}
	if err := setAddressFields(f, &a); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		site, err := t.site(ref)
		if err != nil {
			return err
		}
		if err := t.mayManageAddresses(site.SiteID); err != nil {
			return err
		}
		have, err := t.Addresses(store.Query{Conds: []store.Cond{{Field: "site_id", Op: store.Eq, Value: site.SiteID}}})
		if err != nil {
			return err
		}
		if len(have) >= maxAddressesPerSite {
			return Faultf(FaultInvalidArg, "site %s has %d addresses already (at most %d)", site.LoginBase, len(have), maxAddressesPerSite)
		}
		a.SiteID = site.SiteID
		return t.AddAddress(&a)
	})
	return a.AddressID, err
}

func (s *Service) updateAddress(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "address_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "address_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		a, err := t.ownAddress(id)
		if err != nil {
			return err
		}
		if err := setAddressFields(f, a); err != nil {
			return err
		}
		return t.UpdateAddress(a)
	})
	return int64(1), err
}

func (s *Service) deleteAddress(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "address_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		if _, err := t.ownAddress(id); err != nil {
			return err
		}
		return t.DeleteAddress(id)
	})
	return int64(1), err
}

// addressTypeOfAddress is AddAddressTypeToAddress (add) or
// DeleteAddressTypeFromAddress.
func (s *Service) addressTypeOfAddress(add bool) func(context.Context, *Caller, []any) (any, error) {
	return func(ctx context.Context, c *Caller, args []any) (any, error) {
		ref, err := argRef(args, 0, "address_type_id_or_name")
		if err != nil {
			return nil, err
		}
		id, err := argInt(args, 1, "address_id")
		if err != nil {
			return nil, err
		}
		err = s.update(ctx, c, func(t *txn) error {
			typ, err := t.addressType(ref)
			if err != nil {
				return err
			}
			if _, err := t.ownAddress(id); err != nil {
				return err
			}
			if add {
				return t.AddAddressTypeToAddress(typ.AddressTypeID, id)
			}
			return t.DeleteAddressTypeFromAddress(typ.AddressTypeID, id)
		})
		return int64(1), err
	}
}

func setAddressFields(f *fieldSet, a *api.Address) error {
	dst := map[string]*string{"line1": &a.Line1, "line2": &a.Line2, "line3": &a.Line3, "city": &a.City,
		"state": &a.State, "postalcode": &a.PostalCode, "country": &a.Country}
	return readLimited(f, addressLimits, dst)
}

// readLimited reads the string fields limits names into dst, refusing
// any other field and any longer than its limit.
func readLimited(f *fieldSet, limits []fieldLimit, dst map[string]*string) error {
	names := make([]string, len(limits))
	for i, l := range limits {
		names[i] = l.name
	}
	if err := f.only(names...); err != nil {
		return err
	}
	for _, l := range limits {
		f.str(l.name, dst[l.name])
		if f.err == nil && utf8.RuneCountInString(*dst[l.name]) > l.max {
			return Faultf(FaultInvalidArg, "%s.%s: longer than %d characters", f.what, l.name, l.max)
		}
	}
	return f.err
}

// addressType finds an address type by id or name.
func (t *txn) addressType(ref any) (*api.AddressType, error) {
	recs, err := t.AddressTypes(refQuery(addressTypeKind, ref))
	return one(addressTypeKind, ref, recs, err)
}

// ownAddress returns address id if the caller may change its site's
// addresses.
func (t *txn) ownAddress(id int64) (*api.Address, error) {
	recs, err := t.Addresses(store.ByID("address_id", id))
	a, err := one(addressKind, id, recs, err)
	if err != nil {
		return nil, err
	}
	return a, t.mayManageAddresses(a.SiteID)
}

// mayManageAddresses: admins and the site's PIs.
func (t *txn) mayManageAddresses(siteID int64) error {
	if t.c.IsAdmin() || t.isPIOf(siteID) {
		return nil
	}
	return denied("only an admin or a PI of the site may change its addresses")
}
