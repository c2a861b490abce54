package audit

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
)

//go:embed templates/*.html
var templateFS embed.FS

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"count": count, "bytes": bytesString, "proto": api.ProtoName, "flags": flagsString,
	"hhmm":  func(t time.Time) string { return t.UTC().Format("15:04") },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000 UTC") },
	"day":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"mailto": func(to string, slice string, addr netip.Addr) template.URL {
		q := url.Values{"subject": {fmt.Sprintf("Traffic from slice %s to %s", slice, addr)}}
		return template.URL("mailto:" + url.PathEscape(to) + "?" + strings.ReplaceAll(q.Encode(), "+", "%20"))
	},
}

// templates holds the pages, each with the layout.
var templates = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html"))
})

// Limits of the pages' work.
const (
	maxConcurrentPages = 4
	summaryMaxAge      = 2 * time.Second
	sliceInfoTimeout   = 3 * time.Second
	maxSliceLookups    = 50
)

// HandlerConfig configures the node's pages.
type HandlerConfig struct {
	// Node is the node's name as the pages show it.
	Node string
	// ArchiveURL is central's archive page, linked for traffic older than
	// the hour; empty means no link.
	ArchiveURL string
	// ArchiveURLFunc, when set, is asked for ArchiveURL at every page (a
	// node learns central's address when it registers, after it started).
	ArchiveURLFunc func() string
	// Slices tells about slices; nil shows none of their details.
	Slices Slices
	Logger *slog.Logger
}

// Handler serves the node's audit pages: GET and HEAD only.
type Handler struct {
	a    *Auditor
	cfg  HandlerConfig
	sem  chan struct{}
	mux  *http.ServeMux
	once sync.Mutex // one summary computed at a time

	// mu guards the following.
	mu        sync.Mutex
	summary   Summary
	summaryAt time.Time
}

// NewHandler returns the node's audit pages over a's store.
func NewHandler(a *Auditor, cfg HandlerConfig) *Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{a: a, cfg: cfg, sem: make(chan struct{}, maxConcurrentPages), mux: http.NewServeMux()}
	h.mux.HandleFunc("/{$}", h.serveSummary)
	h.mux.HandleFunc("/dst", h.serveFind)
	h.mux.HandleFunc("/dst/{addr...}", h.serveDst)
	return h
}

// ServeHTTP answers one page request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed, "method %s not allowed: these pages answer GET and HEAD only", r.Method)
		return
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-r.Context().Done():
		return
	}
	h.mux.ServeHTTP(w, r)
}

// summaryPage is the data of /.
type summaryPage struct {
	Node       string
	ArchiveURL string
	Summary
	Plot     Plot
	Archive  *ArchiveStats
	Held     uint64 // packets in the hour's rows
	Capacity struct{ Rows, Records int }
	Memory   string
}

// archiveURL is central's archive page, or "" when there is none.
func (h *Handler) archiveURL() string {
	if h.cfg.ArchiveURLFunc != nil {
		return h.cfg.ArchiveURLFunc()
	}
	return h.cfg.ArchiveURL
}

func (h *Handler) serveSummary(w http.ResponseWriter, r *http.Request) {
	s := h.cachedSummary()
	p := summaryPage{Node: h.cfg.Node, ArchiveURL: h.archiveURL(), Summary: s, Plot: plot(s.Series, s.Minutes)}
	for _, ss := range s.BySlice {
		p.Held += ss.Packets
	}
	p.Capacity.Rows, p.Capacity.Records = h.a.store.Capacity()
	p.Memory = bytesString(uint64(h.a.store.TableBytes()))
	if ar := h.a.Archiver(); ar != nil {
		st := ar.Stats()
		p.Archive = &st
	}
	h.render(w, r, http.StatusOK, "summary.html", p)
}

// cachedSummary returns a summary at most summaryMaxAge old, so that many
// clients cost one scan of the table.
func (h *Handler) cachedSummary() Summary {
	h.once.Lock()
	defer h.once.Unlock()
	h.mu.Lock()
	s, at := h.summary, h.summaryAt
	h.mu.Unlock()
	if time.Since(at) < summaryMaxAge {
		return s
	}
	s = h.a.store.Summary()
	h.mu.Lock()
	h.summary, h.summaryAt = s, time.Now()
	h.mu.Unlock()
	return s
}

// serveFind sends the form's address to its page.
func (h *Handler) serveFind(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("addr"))
	addr, err := netip.ParseAddr(q)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "%q is not an IP address", q)
		return
	}
	http.Redirect(w, r, "/dst/"+addr.String(), http.StatusSeeOther)
}

// dstPage is the data of /dst/<addr>.
type dstPage struct {
	Node       string
	ArchiveURL template.URL
	Destination
	Info map[string]SliceInfo
}

func (h *Handler) serveDst(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("addr")
	addr, err := netip.ParseAddr(s)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "%q is not an IP address", s)
		return
	}
	d := h.a.store.Destination(addr)
	p := dstPage{Node: h.cfg.Node, Destination: d, Info: h.sliceInfo(r.Context(), d.Slices)}
	if base := h.archiveURL(); base != "" {
		q := url.Values{"addr": {addr.String()}, "to": {d.From.Format(time.RFC3339)},
			"from": {d.From.Add(-24 * time.Hour).Format(time.RFC3339)}}
		p.ArchiveURL = template.URL(base + "?" + q.Encode())
	}
	h.render(w, r, http.StatusOK, "dst.html", p)
}

// sliceInfo looks up the slices' details within a time bound.
func (h *Handler) sliceInfo(ctx context.Context, ds []DstSlice) map[string]SliceInfo {
	info := map[string]SliceInfo{}
	if h.cfg.Slices == nil {
		return info
	}
	ctx, cancel := context.WithTimeout(ctx, sliceInfoTimeout)
	defer cancel()
	for i, d := range ds {
		if i >= maxSliceLookups || ctx.Err() != nil {
			break
		}
		in, err := h.cfg.Slices.Info(ctx, d.Slice)
		if err != nil {
			h.cfg.Logger.Debug("slice info", "slice", d.Slice, "err", err)
			continue
		}
		info[d.Slice] = in
	}
	return info
}

// errorPage is the data of an error page.
type errorPage struct {
	Node, Message string
	Code          int
}

// fail answers an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	h.render(w, r, code, "error.html", errorPage{Node: h.cfg.Node, Code: code, Message: fmt.Sprintf(format, args...)})
}

// render executes a page into a buffer, then answers it whole, the body
// left out for HEAD.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	var b bytes.Buffer
	if err := templates().ExecuteTemplate(&b, name, data); err != nil {
		h.cfg.Logger.Error("render audit page", "page", name, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}
