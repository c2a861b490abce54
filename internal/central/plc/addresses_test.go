package plc_test

import (
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestAddresses keeps a site's addresses, and makes the attacks of
// another site's PI (changing, retyping or deleting them, adding to the
// site), of a user making address types, and of a PI filling the store.
func TestAddresses(t *testing.T) {
	w := newWorld(t)
	billing := w.id(w.admin, "AddAddressType", map[string]any{"name": "Billing"})
	_, err := w.call(w.admin, "AddAddressType", map[string]any{"name": "Billing"})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.piA, "AddAddressType", map[string]any{"name": "Mine"})
	fault(t, err, plc.FaultAuth)
	lines := map[string]any{"line1": "1 Alpha Rd", "city": "A", "state": "S", "postalcode": "1", "country": "US"}
	addr := w.id(w.piA, "AddSiteAddress", "alpha", lines)
	w.must(w.piA, "AddAddressTypeToAddress", "Billing", addr)

	for _, try := range []struct {
		method string
		args   []any
	}{
		{"UpdateAddress", []any{addr, map[string]any{"line1": "stolen"}}},
		{"DeleteAddress", []any{addr}},
		{"DeleteAddressTypeFromAddress", []any{billing, addr}},
		{"AddSiteAddress", []any{"alpha", lines}},
	} {
		_, err := w.call(w.piB, try.method, try.args...)
		fault(t, err, plc.FaultPermission)
	}
	got := records(t, w.must(w.userB, "GetAddresses", addr))
	if len(got) != 1 || got[0]["line1"] != "1 Alpha Rd" || len(got[0]["address_type_ids"].([]any)) != 1 {
		t.Fatalf("victim's address changed: %v", got)
	}
	for _, bad := range []map[string]any{{"country": string(make([]byte, 129))}, {"site_id": 2}, {"line1": 5}} {
		_, err = w.call(w.piA, "UpdateAddress", addr, bad)
		fault(t, err, plc.FaultInvalidArg)
	}
	for range 31 {
		w.id(w.piA, "AddSiteAddress", "alpha", lines)
	}
	_, err = w.call(w.piA, "AddSiteAddress", "alpha", lines)
	fault(t, err, plc.FaultInvalidArg)
	w.must(w.admin, "DeleteAddressType", "Billing")
	if got := records(t, w.must(w.admin, "GetAddresses", addr)); len(got[0]["address_types"].([]any)) != 0 {
		t.Fatalf("a deleted type stays on the address: %v", got)
	}
}
