package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// TestSliceTags: a slice's user adds, changes and removes the tags their
// role allows, through the core's AddSliceTag rules; a resource tag is
// refused beside the form with what was typed kept; another site's PI
// cannot change or remove the slice's tags, even by posting its tag's id.
func TestSliceTags(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	tc.call(t, "AddSlice", map[string]any{"name": "pt_tags", "url": "http://x", "description": "x"})
	tc.call(t, "AddPersonToSlice", w.user, "pt_tags")
	tc.call(t, "AddSlice", map[string]any{"name": "ev_mine", "url": "http://x", "description": "x"})
	tc.call(t, "AddPersonToSlice", w.atk, "ev_mine")
	user, atk := tc.client(t), tc.client(t)
	user.signin(w.user)
	atk.signin(w.atk)

	if code := user.submit("/slices/pt_tags", "/slices/pt_tags/tags", url.Values{"tagname": {"initscript"}, "value": {"#!/bin/sh\necho hi"}}); code != http.StatusOK ||
		!strings.Contains(user.last, "The tag is added") || !strings.Contains(user.last, `<th scope="row">initscript</th><td>every node</td>`) {
		t.Fatalf("add initscript: %d", code)
	}
	if code := user.submit("/slices/pt_tags", "/slices/pt_tags/tags", url.Values{"tagname": {"cpu_share"}, "value": {"1000"}}); code != http.StatusBadRequest ||
		!strings.Contains(user.last, `id="tagname" name="tagname" value="cpu_share" aria-invalid="true"`) || !strings.Contains(user.last, `rows="2">1000</textarea>`) {
		t.Errorf("a user sets cpu_share: %d, want it refused beside the field with the values kept", code)
	}
	id := regexp.MustCompile(`name="slice_tag_id" value="(\d+)"`).FindStringSubmatch(user.last)
	if id == nil {
		t.Fatal("no tag id on the page")
	}
	if code := atk.submit("/slices/ev_mine", "/slices/ev_mine/tags/update", url.Values{"slice_tag_id": {id[1]}, "value": {"#!/bin/sh\nrm -rf /"}}); code == http.StatusOK {
		t.Errorf("another site's PI changed the tag: %d", code)
	}
	if code := atk.submit("/slices/ev_mine", "/slices/ev_mine/tags/remove", url.Values{"slice_tag_id": {id[1]}}); code == http.StatusOK {
		t.Errorf("another site's PI removed the tag: %d", code)
	}
	if got := tc.call(t, "GetSliceTags", map[string]any{"tagname": "initscript"}).([]any); len(got) != 1 || got[0].(map[string]any)["value"] != "#!/bin/sh\necho hi" {
		t.Fatalf("tags after the attack: %v", got)
	}
	if code := user.submit("/slices/pt_tags", "/slices/pt_tags/tags/update", url.Values{"slice_tag_id": {id[1]}, "value": {"#!/bin/sh\necho bye"}}); code != http.StatusOK || !strings.Contains(user.last, "echo bye") {
		t.Errorf("update: %d", code)
	}
	if code := user.submit("/slices/pt_tags", "/slices/pt_tags/tags/remove", url.Values{"slice_tag_id": {id[1]}}); code != http.StatusOK || !strings.Contains(user.last, "No tags.") {
		t.Errorf("remove: %d", code)
	}
}
