package plc_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
)

// TestSliceURLInjection: a PI tries to store a script as a slice's URL,
// creating a slice and updating one, through PLCAPI and the JSON API;
// each is refused naming the field, and nothing changes.
func TestSliceURLInjection(t *testing.T) {
	w, wire := freshWire(t)
	gamma := w.site("gamma", 3)
	w.person("pi@gamma.org", gamma, "pi")
	c := wire.from("127.0.0.41")
	auth := pwAuth("pi@gamma.org", "password-pi@gamma.org")
	token, err := c.login("pi@gamma.org", "password-pi@gamma.org")
	if err != nil {
		t.Fatal(err)
	}
	const good = "https://gamma.org/project"
	if _, err := c.call(token, "AddSlice", map[string]any{"name": "gamma_web", "url": good, "description": "d"}); err != nil {
		t.Fatalf("a good URL: %v", err)
	}
	check := func(err error, status int) {
		t.Helper()
		f := wireFault(t, err, plc.FaultInvalidArg, status)
		if !strings.Contains(f.Msg, "slice_fields.url") {
			t.Fatalf("the fault does not name the field: %q", f.Msg)
		}
	}
	for _, bad := range []string{"javascript:alert(document.cookie)", "JAVASCRIPT:alert(1)", "data:text/html,<script>x</script>",
		"http://x.org/\"><script>", "//evil.org/", "http://user@evil.org/", "http://gamma.org/" + strings.Repeat("a", 1100)} {
		_, err := c.plcapi("UpdateSlice", auth, "gamma_web", map[string]any{"url": bad})
		check(err, 0)
		_, err = c.call(token, "UpdateSlice", "gamma_web", map[string]any{"url": bad})
		check(err, http.StatusBadRequest)
		_, err = c.plcapi("AddSlice", auth, map[string]any{"name": "gamma_bad", "url": bad, "description": "d"})
		check(err, 0)
		_, err = c.call(token, "AddSlice", map[string]any{"name": "gamma_bad", "url": bad, "description": "d"})
		check(err, http.StatusBadRequest)
	}
	got := records(t, w.must(w.admin, "GetSlices", map[string]any{"name": "gamma_*"}, []any{"name", "url"}))
	if len(got) != 1 || got[0]["name"] != "gamma_web" || got[0]["url"] != good {
		t.Fatalf("slices after the attempts: %v", got)
	}
}

// TestStoredSliceURLKept: a slice stored with a URL the check refuses
// (imported from elsewhere) keeps it, and other fields of it can change.
func TestStoredSliceURLKept(t *testing.T) {
	w := newWorld(t)
	const odd = "legacy-url"
	err := w.store.Update(w.ctx, "test", func(tx store.Tx) error {
		sl := api.Slice{SiteID: w.siteA, Name: "alpha_old", Instantiation: "plc-instantiated", URL: odd, Description: "d", Expires: w.clock.Load() + 86400}
		return tx.AddSlice(&sl)
	})
	if err != nil {
		t.Fatal(err)
	}
	w.must(w.piA, "UpdateSlice", "alpha_old", map[string]any{"description": "still here"})
	got := records(t, w.must(w.admin, "GetSlices", "alpha_old", []any{"url", "description"}))
	if len(got) != 1 || got[0]["url"] != odd || got[0]["description"] != "still here" {
		t.Fatalf("legacy slice: %v", got)
	}
	fault(t, second(w.call(w.piA, "UpdateSlice", "alpha_old", map[string]any{"url": odd})), plc.FaultInvalidArg)
}
