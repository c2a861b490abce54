package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testAddresses keeps address types and a site's addresses: unique type
// names, types listed with their names, and the cascades.
func testAddresses(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	bill, ship := api.AddressType{Name: "Billing, main"}, api.AddressType{Name: "Shipping"}
	a := api.Address{SiteID: f.site.SiteID, Line1: "1 Main St", City: "Springfield", Country: "US"}
	update(t, s, func(tx store.Tx) error {
		for _, x := range []*api.AddressType{&bill, &ship} {
			if err := tx.AddAddressType(x); err != nil {
				return err
			}
		}
		if err := tx.AddAddress(&a); err != nil {
			return err
		}
		for _, id := range []int64{ship.AddressTypeID, bill.AddressTypeID, ship.AddressTypeID} {
			if err := tx.AddAddressTypeToAddress(id, a.AddressID); err != nil {
				return err
			}
		}
		return nil
	})
	got := only(t, s, store.Tx.Addresses, "address_id", a.AddressID)
	equal(t, "types", []any{got.AddressTypeIDs, got.AddressTypes}, []any{[]int64{bill.AddressTypeID, ship.AddressTypeID}, []string{"Billing, main", "Shipping"}})
	equal(t, "site's address_ids", only(t, s, sites, "site_id", f.site.SiteID).AddressIDs, []int64{a.AddressID})
	equal(t, "by type", len(get(t, s, store.Tx.Addresses, where(eq("address_type_ids", ship.AddressTypeID)))), 1)
	dup := func(tx store.Tx) error { x := api.AddressType{Name: "Shipping"}; return tx.AddAddressType(&x) }
	rename := func(tx store.Tx) error { x := bill; x.Name = "Shipping"; return tx.UpdateAddressType(&x) }
	for name, fn := range map[string]func(store.Tx) error{"add": dup, "rename": rename} {
		if err := s.Update(t.Context(), "system", fn); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s a taken type name: %v, want ErrConflict", name, err)
		}
	}
	update(t, s, func(tx store.Tx) error {
		a.City, a.SiteID = "Shelbyville", 0 // the site stays
		if err := tx.UpdateAddress(&a); err != nil {
			return err
		}
		if err := tx.DeleteAddressTypeFromAddress(bill.AddressTypeID, a.AddressID); err != nil {
			return err
		}
		return tx.DeleteAddressType(ship.AddressTypeID)
	})
	got = only(t, s, store.Tx.Addresses, "address_id", a.AddressID)
	equal(t, "after update", []any{got.City, got.SiteID, len(got.AddressTypeIDs)}, []any{"Shelbyville", f.site.SiteID, 0})
	update(t, s, func(tx store.Tx) error { return tx.DeleteSite(f.site.SiteID) })
	equal(t, "addresses left", len(get(t, s, store.Tx.Addresses, store.Query{})), 0)
	if err := s.Update(t.Context(), "system", func(tx store.Tx) error { return tx.DeleteAddress(a.AddressID) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete a deleted address: %v, want ErrNotFound", err)
	}
}
