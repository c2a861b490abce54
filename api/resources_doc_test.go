package api

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated tables of docs/resources.md from the table")

const (
	resourcesDoc = "../docs/resources.md"
	docBegin     = "<!-- BEGIN generated from api.Resources: go test ./api -run TestResourcesDoc -update-docs -->\n"
	docEnd       = "<!-- END generated -->\n"
)

// TestResourcesDoc fails when docs/resources.md does not show the table
// as it is.
func TestResourcesDoc(t *testing.T) {
	raw, err := os.ReadFile(resourcesDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	head, rest, ok1 := strings.Cut(doc, docBegin)
	old, tail, ok2 := strings.Cut(rest, docEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: no generated section (%q ... %q)", resourcesDoc, docBegin, docEnd)
	}
	want := resourcesMarkdown()
	if old == want {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(resourcesDoc, []byte(head+docBegin+want+docEnd+tail), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s disagrees with api.Resources: run go test ./api -run TestResourcesDoc -update-docs", resourcesDoc)
}

// resourcesMarkdown writes the table as docs/resources.md shows it.
func resourcesMarkdown() string {
	var b strings.Builder
	b.WriteString("| rspec field | kind | unit | slice tags (unit) | broker's pool tag | set by | default | bounds | enforcer |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range Resources {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.Name, r.Kind, r.Unit, docTags(r), docCode(r.DelegateTag), docRole(r.Role), docDefault(r), docBounds(r), r.Enforcer)
	}
	b.WriteString("\n| rspec field | what it is |\n|---|---|\n")
	for _, r := range Resources {
		fmt.Fprintf(&b, "| `%s` | %s |\n", r.Name, r.Doc)
	}
	b.WriteString("\nTags the node reads as attributes (they set no rspec field):\n\n")
	b.WriteString("| tag | kind | set by | enforcer | what it is |\n|---|---|---|---|---|\n")
	for _, a := range AttributeTags {
		name := "`" + a.Name + "`"
		for _, al := range a.Aliases {
			name += " (alias `" + al + "`)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, a.Kind, docRole(a.Role), a.Enforcer, a.Doc)
	}
	b.WriteString("\nPlanetLab tags central refuses:\n\n| tag | why |\n|---|---|\n")
	for _, r := range RefusedTags {
		fmt.Fprintf(&b, "| `%s` | %s |\n", r.Name, r.Why)
	}
	fmt.Fprintf(&b, "| other `*_soft`, `*_hard` | the node enforces only %s |\n", strings.Join(rlimitTags(), ", "))
	return b.String()
}

func docTags(r Resource) string {
	var out []string
	for _, t := range r.Tags {
		s := "`" + t.Name + "`"
		switch {
		case t.Unit != "" && t.Unit != r.Unit:
			s += fmt.Sprintf(" (%s, ×%d)", t.Unit, t.Scale)
		case t.Max > 0 && r.Kind != Flag:
			s += fmt.Sprintf(" (max %d)", t.Max)
		}
		if t.Unit != r.Unit && t.Max > 0 && r.Kind != Flag {
			s = strings.TrimSuffix(s, ")") + fmt.Sprintf(", max %d)", t.Max)
		}
		out = append(out, s)
	}
	if len(out) > 1 {
		return strings.Join(out, ", else ")
	}
	return strings.Join(out, "")
}

func docCode(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func docRole(role int) string {
	if role == 0 {
		return "—"
	}
	return RoleNames[role]
}

func docDefault(r Resource) string {
	switch {
	case r.NodeDefault:
		return "the node's"
	case r.Default != 0:
		return fmt.Sprint(r.Default)
	}
	return "0"
}

func docBounds(r Resource) string {
	s := ""
	if r.Max > 0 {
		s = fmt.Sprintf("%d to %d", r.Min, r.Max)
	}
	if r.AtMost != "" {
		s += fmt.Sprintf("; ≤ `%s`", r.AtMost)
	}
	if r.Requires != "" {
		s += fmt.Sprintf("; needs `%s`", r.Requires)
	}
	return strings.TrimPrefix(s, "; ")
}
