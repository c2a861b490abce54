package audit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// get fetches a page from h and parses it.
func get(t *testing.T, h http.Handler, path string) (*http.Response, *html.Node) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	res := rec.Result()
	body, _ := io.ReadAll(res.Body)
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return res, doc
}

// find returns the first element for which ok holds, or nil.
func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if n.Type == html.ElementNode && ok(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, ok); f != nil {
			return f
		}
	}
	return nil
}

// findAll returns every element for which ok holds.
func findAll(n *html.Node, ok func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if n.Type == html.ElementNode && ok(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, findAll(c, ok)...)
	}
	return out
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func byID(id string) func(*html.Node) bool {
	return func(n *html.Node) bool { return attr(n, "id") == id }
}

func byTag(tag string) func(*html.Node) bool {
	return func(n *html.Node) bool { return n.Data == tag }
}

func byClass(c string) func(*html.Node) bool {
	return func(n *html.Node) bool { return strings.Contains(" "+attr(n, "class")+" ", " "+c+" ") }
}

// text returns an element's text, with thin spaces taken out of numbers.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(strings.ReplaceAll(b.String(), "\u2009", ""))
}

// tableRows returns the text of the cells of a table's body rows.
func tableRows(t *testing.T, doc *html.Node, id string) [][]string {
	t.Helper()
	tbl := doc
	if id != "" {
		tbl = find(doc, byID(id))
	}
	if tbl == nil {
		t.Fatalf("no table %q", id)
	}
	var rows [][]string
	for _, tr := range findAll(find(tbl, byTag("tbody")), byTag("tr")) {
		var cells []string
		for _, td := range findAll(tr, byTag("td")) {
			cells = append(cells, text(td))
		}
		rows = append(rows, cells)
	}
	return rows
}
