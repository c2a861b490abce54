package plc_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestObjectTagCap: a node, a site and a person hold at most 256 tags,
// whether added by AddXTag or by an accessor (SetNodeArch...), and the
// refused tag is not stored.
func TestObjectTagCap(t *testing.T) {
	w := newWorld(t)
	const limit = 256
	for i := range limit + 1 {
		w.must(w.admin, "AddTagType", map[string]any{"tagname": fmt.Sprintf("cap_%d", i)})
	}
	for _, o := range []struct {
		x, name, accessor string
		ref               any
		filter            map[string]any
	}{
		{"Node", "node n1.alpha.org", "SetNodeArch", w.nodeA1, map[string]any{"hostname": "n1.alpha.org"}},
		{"Site", "site alpha", "SetSiteHrn", w.siteA, map[string]any{"login_base": "alpha"}},
		{"Person", "person pi@alpha.org", "SetPersonHrn", "pi@alpha.org", map[string]any{"email": "pi@alpha.org"}},
	} {
		for i := range limit {
			w.must(w.admin, "Add"+o.x+"Tag", o.ref, fmt.Sprintf("cap_%d", i), "v")
		}
		_, err := w.call(w.admin, "Add"+o.x+"Tag", o.ref, fmt.Sprintf("cap_%d", limit), "v")
		fault(t, err, plc.FaultInvalidArg)
		if want := o.name + " has 256 tags already"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Add%sTag past the cap: %v, want %q", o.x, err, want)
		}
		_, err = w.call(w.admin, o.accessor, o.ref, "x")
		fault(t, err, plc.FaultInvalidArg)
		if n := len(records(t, w.must(w.admin, "Get"+o.x+"Tags", o.filter))); n != limit {
			t.Errorf("%s holds %d tags, want %d", o.name, n, limit)
		}
	}
}
