package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// view is what every page's template gets.
type view struct {
	Title string
	// Me is the signed-in person, nil on the sign-in page.
	Me *plc.Caller
	// CSRF goes in every form's hidden csrf field.
	CSRF string
	// Flash says what the last change did; Error what went wrong, for
	// an error not tied to one field.
	Flash, Error string
	// Form holds the values and errors of a refused form.
	Form *form
	// Data is the page's own.
	Data any
}

// form is a submitted form: its values, kept when it is refused so that
// nothing typed is lost, and an error per field.
type form struct {
	Values map[string]string
	Errs   map[string]string
	// Ticked are the node checkboxes ticked.
	Ticked map[string]bool
}

// newForm returns a form holding v's first values.
func newForm(v url.Values) *form {
	f := &form{Values: map[string]string{}, Errs: map[string]string{}, Ticked: map[string]bool{}}
	for _, id := range v["node"] {
		f.Ticked[id] = true
	}
	for k, vs := range v {
		if k != "csrf" && len(vs) > 0 {
			f.Values[k] = vs[0]
		}
	}
	return f
}

// Value is the submitted value of field.
func (f *form) Value(field string) string {
	if f == nil {
		return ""
	}
	return f.Values[field]
}

// Err is the error beside field, "" if none.
func (f *form) Err(field string) string {
	if f == nil {
		return ""
	}
	return f.Errs[field]
}

// Tick reports whether the node checkbox id was ticked.
func (f *form) Tick(id int64) bool { return f != nil && f.Ticked[fmt.Sprint(id)] }

func (f *form) fail(field, msg string) {
	if f.Errs[field] == "" {
		f.Errs[field] = msg
	}
}

func (f *form) failed() bool { return len(f.Errs) > 0 }

// require fails field if it is empty.
func (f *form) require(field, msg string) {
	if strings.TrimSpace(f.Values[field]) == "" {
		f.fail(field, msg)
	}
}

// flashes are the messages a redirect after a change may name (?done=),
// so that no one can put words on the page through a link.
var flashes = map[string]string{
	"signedout":       "You are signed out.",
	"created":         "The slice is created.",
	"renewed":         "The slice is renewed.",
	"saved":           "Saved.",
	"added":           "The nodes are added: their slivers start within a minute.",
	"removed":         "The nodes are removed: their slivers are being stopped.",
	"useradded":       "The user is added.",
	"usergone":        "The user is removed.",
	"keyadded":        "The key is added: your slices' nodes get it within a minute.",
	"keygone":         "The key is removed.",
	"revoked":         "The token is revoked.",
	"reset":           "Your password is set: sign in with it.",
	"registered":      "You are registered: a PI of your site enables your account, then you can sign in.",
	"tagadded":        "The tag is added: the slice's nodes get it within a minute.",
	"tagsaved":        "The tag is saved.",
	"taggone":         "The tag is removed.",
	"site-registered": "Your site is registered: an administrator approves it and enables your account, then you can sign in.",
}

// flash is the message of r's done parameter.
func flash(r *http.Request) string { return flashes[r.URL.Query().Get("done")] }

// dateLayout is how pages write a time.
const dateLayout = "2006-01-02 15:04 UTC"

var funcs = template.FuncMap{
	"date":  func(t int64) string { return time.Unix(t, 0).UTC().Format("2006-01-02 15:04 UTC") },
	"add":   func(a, b int) int { return a + b },
	"list":  func(s ...string) []string { return s },
	"iso":   func(t int64) string { return time.Unix(t, 0).UTC().Format(time.RFC3339) },
	"bytes": humanBytes,
	"rate":  humanRate,
	"load":  func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
}

// parsePages parses each page with the layout.
func parsePages() map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || base == "filter" || base == "rows" {
			continue
		}
		pages[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/filter.html", n))
	}
	return pages
}

// render writes page with v; a template error is logged and answered
// as an internal error, never half a page.
func (p *Portal) render(w http.ResponseWriter, status int, page string, v *view) {
	var b bytes.Buffer
	if err := p.pages[page].ExecuteTemplate(&b, "layout", v); err != nil {
		p.log.Error("portal render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// call runs method as c, with the checks PLCAPI and the JSON API make,
// and decodes its result into out (if not nil) as the JSON API's
// clients would.
func (p *Portal) call(ctx context.Context, c *plc.Caller, method string, out any, args ...any) error {
	res, ce := p.reg.Dispatch(ctx, p.log, plc.Call{Method: method, Args: args,
		Authenticate: func(context.Context) (*plc.Caller, error) { return c, nil }})
	if ce != nil {
		if ce.Step == plc.StepFind {
			return fmt.Errorf("portal: no method %s", method)
		}
		return ce.Fault
	}
	if out == nil {
		return nil
	}
	if err := decode(res, out); err != nil {
		return fmt.Errorf("%s result: %w", method, err)
	}
	return nil
}

// message is what the person is told of err: a fault's own message, the
// core's words for what was wrong; anything else was logged.
func (p *Portal) message(what string, err error) string {
	var f *plc.Fault
	if errors.As(err, &f) {
		return f.Msg
	}
	p.log.Error("portal", "action", what, "err", err)
	return "Something went wrong on the server; it is logged. Try again later."
}

// statusOf is the HTTP status of a refused form.
func statusOf(err error) int {
	var f *plc.Fault
	if !errors.As(err, &f) {
		return http.StatusInternalServerError
	}
	switch f.Code {
	case plc.FaultAuth:
		return http.StatusUnauthorized
	case plc.FaultPermission:
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}

// fieldOf is the field of fields that a fault's message names first
// ("slice_fields.url: ..."), so the error shows beside it; else def.
func fieldOf(msg, def string, fields ...string) string {
	best, at := def, len(msg)
	for _, fl := range fields {
		if i := strings.Index(msg, fl); i >= 0 && i < at {
			best, at = fl, i
		}
	}
	return best
}

// notFound is a fault saying what is not there.
func notFound(format string, args ...any) error {
	return plc.Faultf(plc.FaultInvalidArg, format, args...)
}

// secondsDur is n seconds.
func secondsDur(n int64) time.Duration { return time.Duration(n) * time.Second }

// anyIDs is ids as a method's list argument.
func anyIDs(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
