package plc_test

import (
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestExpiryBound: central refuses an expiry after api.MaxTime, the latest
// a node takes, even from an admin, and even as the <i8> a year-10000
// date needs; the slice keeps its expiry. api.MaxTime itself is taken.
func TestExpiryBound(t *testing.T) {
	w := newWorld(t)
	sid := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_long", "url": "http://x", "description": "d"})
	_, err := w.call(w.piA, "AddSlice", map[string]any{"name": "alpha_later", "url": "http://x", "description": "d", "expires": int64(api.MaxTime + 1)})
	fault(t, err, plc.FaultInvalidArg)
	for _, call := range []struct {
		method string
		args   []any
	}{
		{"UpdateSlice", []any{sid, map[string]any{"expires": int64(api.MaxTime + 1)}}},
		{"RenewSlice", []any{sid, int64(253402300800 + 86400*365)}},
	} {
		_, err := w.call(w.admin, call.method, call.args...)
		fault(t, err, plc.FaultInvalidArg)
	}
	if sl := records(t, w.must(w.admin, "GetSlices", sid))[0]; sl["expires"] != int64(t0+14*86400) {
		t.Errorf("a refused renewal changed the expiry: %v", sl["expires"])
	}
	w.must(w.admin, "RenewSlice", sid, int64(api.MaxTime))
	if sl := records(t, w.must(w.admin, "GetSlices", sid))[0]; sl["expires"] != int64(api.MaxTime) {
		t.Errorf("renewal to api.MaxTime: expires %v", sl["expires"])
	}
}
