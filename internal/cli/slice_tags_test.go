package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestSliceTagsReal sets, changes, lists and removes slice tags against a
// real central, as a PI and as an admin: a PI's resource tag is refused
// with central's reason.
func TestSliceTagsReal(t *testing.T) {
	url := realCentral(t)
	login(t, url, adminEmail, adminPW)
	orbis(t, "", "site", "create", "mit", "--name", "MIT", "--max-slices", "5", "--enabled")
	orbis(t, "alice-password\n", "person", "create", "alice@mit.edu", "--first", "Alice", "--last", "Smith", "--site", "mit", "--role", "pi", "--enabled", "--password-stdin")
	orbis(t, "", "nodes", "create", "n1.example.org", "--site", "mit", "--no-token")
	login(t, url, "alice@mit.edu", "alice-password")
	orbis(t, "", "slice", "create", "mit_x", "--description", "an experiment", "--url", "http://x.mit.edu")

	// Set, then set again: the value changes, no second tag is stacked.
	contains(t, orbis(t, "", "slice", "tag", "mit_x", "enabled", "1"), `added tag enabled = "1" to slice mit_x on all nodes (id `)
	contains(t, orbis(t, "", "slice", "tag", "mit_x", "enabled", "0"), `changed tag enabled of slice mit_x on all nodes (id `, `"1" -> "0"`)
	contains(t, orbis(t, "", "slice", "tag", "mit_x", "enabled", "1", "--node", "n1.example.org"), `added tag enabled = "1" to slice mit_x on n1.example.org`)
	script := "#!/bin/sh\n# boot script of mit_x, with a first line long enough to be cut in a table\necho hello\n"
	file := filepath.Join(t.TempDir(), "initscript")
	os.WriteFile(file, []byte(script), 0o644)
	orbis(t, "", "slice", "tag", "mit_x", "initscript", "--value-file", file)
	orbis(t, "fedora39\n", "slice", "tag", "mit_x", "vref", "--value-file", "-")
	wantFail(t, "not both nor neither", "slice", "tag", "mit_x", "vref", "x", "--value-file", file)

	out := orbis(t, "", "slice", "tags", "mit_x")
	t.Logf("orbis slice tags mit_x:\n%s", out)
	want := `(?m)^ID +NAME +VALUE +NODE\n` +
		`\d+ +enabled +0 +all\n` +
		`\d+ +enabled +1 +n1\.example\.org\n` +
		`\d+ +initscript +#!/bin/sh… +all\n` +
		`\d+ +vref +fedora39 +all\n$`
	if !regexp.MustCompile(want).MatchString(out) {
		t.Errorf("slice tags: want one enabled tag per scope, the initscript cut to a line:\n%s", out)
	}
	var tags []api.SliceTag
	if err := json.Unmarshal([]byte(orbis(t, "", "slice", "tags", "mit_x", "--json")), &tags); err != nil || len(tags) != 4 {
		t.Fatalf("slice tags --json: %v\n%+v", err, tags)
	}
	if tags[2].TagName != "initscript" || tags[2].Value != strings.TrimSuffix(script, "\n") {
		t.Errorf("slice tags --json: want the whole initscript, got %+v", tags[2])
	}

	// A PI may not hand out resources: central says so.
	wantFail(t, "only an admin may set the resource tag cpu_share", "slice", "tag", "mit_x", "cpu_share", "4")
	wantFail(t, "takes 0 or 1", "slice", "tag", "mit_x", "enabled", "7")
	login(t, url, adminEmail, adminPW)
	contains(t, orbis(t, "", "slice", "tag", "mit_x", "cpu_share", "4"), `added tag cpu_share = "4"`)
	login(t, url, "alice@mit.edu", "alice-password")
	wantFail(t, "only an admin may set the resource tag cpu_share", "slice", "untag", "mit_x", "cpu_share")

	// Remove: the global tag, then the node's; a missing one says where
	// the tag is.
	contains(t, orbis(t, "", "slice", "untag", "mit_x", "enabled"), `removed tag enabled = "0" (id `, "from slice mit_x on all nodes")
	wantFail(t, "has no tag enabled on all nodes; it has one on --node n1.example.org", "slice", "untag", "mit_x", "enabled")
	orbis(t, "", "slice", "untag", "mit_x", "enabled", "--node", "n1.example.org")
	out = orbis(t, "", "slice", "tags", "mit_x")
	if strings.Contains(out, "enabled") || !strings.Contains(out, "cpu_share") {
		t.Errorf("slice tags after untag:\n%s", out)
	}
	wantFail(t, `no slice "mit_y"`, "slice", "tag", "mit_y", "enabled", "1")
	wantFail(t, `no node n9.example.org`, "slice", "tag", "mit_x", "enabled", "1", "--node", "n9.example.org")
}
