package web

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestDecode: decode gives what the JSON round trip gave, for records as
// the core returns them.
func TestDecode(t *testing.T) {
	lat := 40.5
	for _, rec := range []any{
		[]api.Site{{SiteID: 3, Name: "P", LoginBase: "p", Enabled: true, Latitude: &lat, PersonIDs: []int64{1, 2}}, {SiteID: 4}},
		[]api.Node{{NodeID: 1, Hostname: "n", SliceIDs: []int64{7}, LastContact: 99}},
		[]plc.APIToken{{TokenID: "ab", Expires: 5, Current: true}},
	} {
		generic := plc.Generic(rec)
		viaJSON := reflect.New(reflect.TypeOf(rec))
		b, _ := json.Marshal(generic)
		if err := json.Unmarshal(b, viaJSON.Interface()); err != nil {
			t.Fatal(err)
		}
		got := reflect.New(reflect.TypeOf(rec))
		if err := decode(generic, got.Interface()); err != nil {
			t.Fatalf("decode %T: %v", rec, err)
		}
		if !reflect.DeepEqual(got.Elem().Interface(), viaJSON.Elem().Interface()) {
			t.Errorf("decode %T:\n got %+v\nwant %+v", rec, got.Elem().Interface(), viaJSON.Elem().Interface())
		}
	}
	var s []api.Slice
	if err := decode([]any{map[string]any{"name": int64(3)}}, &s); err == nil {
		t.Error("an int decoded into a string field")
	}
}
