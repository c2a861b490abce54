package web

import (
	"bytes"
	"html/template"
	"sync"
)

// The node tables have a row per node (1,000 and more), and executing a
// template per row was most of their pages' time, though a row changes
// only when its node or summary does. So each row is rendered once, by
// the templates in templates/rows.html, and its HTML kept under the
// row's cells (the key is everything the row shows, so a changed node
// never shows a stale row); pages emit the kept HTML.

// maxRowHTML bounds the rows kept; past it the cache starts over.
const maxRowHTML = 20000

// rowTemplates parses the row templates once, when a page first needs
// them (not at every start of orbis).
var rowTemplates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("rows").ParseFS(templateFS, "templates/rows.html"))
})

// rowKey is a rendered row: its template and what it shows.
type rowKey struct {
	tmpl   string
	cells  rowCells
	ticked bool
}

// rowHTMLCache holds rendered rows.
type rowHTMLCache struct {
	// mu guards the following.
	mu   sync.Mutex
	rows map[rowKey]template.HTML
}

// rowHTML is the node table row of cells.
func (p *Portal) rowHTML(cells rowCells) (template.HTML, error) {
	return p.rowCache.get(rowKey{tmpl: "noderow", cells: cells}, cells)
}

// pickerRowHTML is the picker's row of cells, its box ticked if ticked.
func (p *Portal) pickerRowHTML(cells rowCells, ticked bool) (template.HTML, error) {
	k := rowKey{tmpl: "pickerrow", cells: cells, ticked: ticked}
	return p.rowCache.get(k, struct {
		Cells  rowCells
		Ticked bool
	}{cells, ticked})
}

// get returns k's row, rendering it with data if it is not kept.
func (c *rowHTMLCache) get(k rowKey, data any) (template.HTML, error) {
	c.mu.Lock()
	h, ok := c.rows[k]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	var b bytes.Buffer
	if err := rowTemplates().ExecuteTemplate(&b, k.tmpl, data); err != nil {
		return "", err
	}
	h = template.HTML(b.String())
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows == nil || len(c.rows) >= maxRowHTML {
		c.rows = map[rowKey]template.HTML{}
	}
	c.rows[k] = h
	return h, nil
}
