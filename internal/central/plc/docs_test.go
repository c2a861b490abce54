package plc_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsListMissingMethods: docs/plcapi.md's "Methods not implemented
// yet" names exactly the PLCAPI methods the registry answers fault 109
// for, so the page cannot fall behind the code.
func TestDocsListMissingMethods(t *testing.T) {
	e := newEnv(t)
	var missing []string
	for _, n := range e.svc.Registry().Names() {
		if e.svc.Registry().Lookup(n).Missing {
			missing = append(missing, n)
		}
	}
	b, err := os.ReadFile("../../../docs/plcapi.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	const heading = "## Methods not implemented yet\n"
	start := strings.Index(doc, heading)
	if start < 0 {
		t.Fatalf("docs/plcapi.md has no %q section", strings.TrimSpace(heading))
	}
	section := doc[start+len(heading):]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var listed []string
	name := regexp.MustCompile("`([A-Z][A-Za-z]+)`")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "- ") {
			continue
		}
		for _, m := range name.FindAllStringSubmatch(line, -1) {
			listed = append(listed, m[1])
		}
	}
	slices.Sort(listed)
	slices.Sort(missing)
	for _, n := range listed {
		if !slices.Contains(missing, n) {
			t.Errorf("docs/plcapi.md lists %s as not implemented, but it is", n)
		}
	}
	for _, n := range missing {
		if !slices.Contains(listed, n) {
			t.Errorf("%s answers fault 109 but docs/plcapi.md does not list it", n)
		}
	}
	if len(listed) != len(slices.Compact(slices.Clone(listed))) {
		t.Errorf("docs/plcapi.md lists a method twice: %v", listed)
	}
	t.Logf("%d PLCAPI methods not implemented yet", len(missing))
}
