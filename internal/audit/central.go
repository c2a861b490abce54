package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
)

// Bounds of central's archive queries.
const (
	MaxQueryRange     = 31 * 24 * time.Hour
	DefaultQueryRange = 24 * time.Hour
	maxQueryResults   = 500
	maxPortsArchived  = 16
)

// ArchiveQuery asks which slices sent traffic to Dst in [From, To).
type ArchiveQuery struct {
	Dst      netip.Addr
	From, To time.Time
}

// SliceTraffic is one slice's traffic from one node to the queried address.
type SliceTraffic struct {
	Slice    string    `json:"slice"`
	Node     string    `json:"node"`
	Packets  uint64    `json:"packets"`
	Bytes    uint64    `json:"bytes"`
	TCPFlags uint8     `json:"tcp_flags"`
	First    time.Time `json:"first"` // first minute
	Last     time.Time `json:"last"`  // last minute
	Ports    []PortSum `json:"ports"` // the busiest
}

// ArchiveStore is central's storage of the nodes' archived rows: Push
// takes a node's batch, Query sums the rows to one address.
type ArchiveStore interface {
	Archive
	Query(ctx context.Context, q ArchiveQuery) ([]SliceTraffic, error)
}

// ErrArchiveFull is the error of a MemArchive at its bound.
var ErrArchiveFull = errors.New("archive full")

// MemArchive is an ArchiveStore in memory, bounded to a number of rows
// (a full archive refuses batches, which the nodes then spool).
type MemArchive struct {
	max int

	// mu guards the following.
	mu    sync.Mutex
	byDst map[netip.Addr][]nodeRow
	n     int
}

// nodeRow is a row with its node.
type nodeRow struct {
	node string
	Row
}

// NewMemArchive returns an empty archive of at most maxRows rows.
func NewMemArchive(maxRows int) *MemArchive {
	return &MemArchive{max: maxRows, byDst: map[netip.Addr][]nodeRow{}}
}

// Push implements Archive.
func (m *MemArchive) Push(ctx context.Context, node string, rows []Row) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n+len(rows) > m.max {
		return fmt.Errorf("push %d rows: %w (%d rows)", len(rows), ErrArchiveFull, m.n)
	}
	for _, r := range rows {
		m.byDst[r.Dst.Unmap()] = append(m.byDst[r.Dst.Unmap()], nodeRow{node: node, Row: r})
	}
	m.n += len(rows)
	return nil
}

// Query implements ArchiveStore.
func (m *MemArchive) Query(ctx context.Context, q ArchiveQuery) ([]SliceTraffic, error) {
	m.mu.Lock()
	rows := slices.Clone(m.byDst[q.Dst.Unmap()])
	m.mu.Unlock()
	return sumRows(rows, q), nil
}

// sumRows sums rows in the query's time range by node and slice, most
// packets first.
func sumRows(rows []nodeRow, q ArchiveQuery) []SliceTraffic {
	sums := make([]ArchivedSum, 0, len(rows))
	for _, r := range rows {
		if r.Minute.Before(q.From) || !r.Minute.Before(q.To) {
			continue
		}
		sums = append(sums, ArchivedSum{Node: r.node, Slice: r.Slice, Proto: r.Proto, DstPort: r.DstPort,
			TCPFlags: r.TCPFlags, Packets: r.Packets, Bytes: r.Bytes, First: r.Minute, Last: r.Minute})
	}
	return SumArchived(sums)
}

// CentralHandler serves central's archive page: GET ?addr=A&from=T&to=T
// (RFC 3339 times; the last DefaultQueryRange when left out) answers which
// slices sent traffic to A in [from, to), as HTML, or as JSON with
// format=json or "Accept: application/json". Without addr it shows the
// form. GET and HEAD only.
type CentralHandler struct {
	store ArchiveStore
	log   *slog.Logger
	now   func() time.Time
}

// NewCentralHandler returns central's archive page over store.
func NewCentralHandler(store ArchiveStore, log *slog.Logger) *CentralHandler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CentralHandler{store: store, log: log, now: time.Now}
}

// centralPage is the data of the archive page.
type centralPage struct {
	Title    string
	Addr     string
	From, To string
	Asked    bool
	Query    ArchiveQuery
	Results  []SliceTraffic
	Error    string
}

// centralJSON is the JSON answer.
type centralJSON struct {
	Addr    string         `json:"addr"`
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	Results []SliceTraffic `json:"results"`
}

// ServeHTTP answers one archive query.
func (h *CentralHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	wantJSON := r.URL.Query().Get("format") == "json" || strings.Contains(r.Header.Get("Accept"), "application/json")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.answer(w, r, wantJSON, http.StatusMethodNotAllowed, centralPage{Error: fmt.Sprintf("method %s not allowed: GET or HEAD", r.Method)})
		return
	}
	p := h.parse(r)
	code := http.StatusOK
	if p.Error != "" {
		code = http.StatusBadRequest
	} else if p.Asked {
		res, err := h.store.Query(r.Context(), p.Query)
		if err != nil {
			h.log.Error("archive query", "err", err)
			code, p.Error = http.StatusInternalServerError, "the archive could not answer; try again later"
		}
		p.Results = res
	}
	h.answer(w, r, wantJSON, code, p)
}

// parse reads the query's fields, keeping them for the form.
func (h *CentralHandler) parse(r *http.Request) centralPage {
	v := r.URL.Query()
	p := centralPage{Addr: strings.TrimSpace(v.Get("addr")), From: v.Get("from"), To: v.Get("to")}
	if p.Addr == "" {
		return p
	}
	p.Asked = true
	var err error
	if p.Query.Dst, err = netip.ParseAddr(p.Addr); err != nil {
		p.Error = fmt.Sprintf("%q is not an IP address", p.Addr)
		return p
	}
	p.Query.To, p.Query.From = h.now().UTC(), time.Time{}
	if p.To != "" {
		if p.Query.To, err = time.Parse(time.RFC3339, p.To); err != nil {
			p.Error = fmt.Sprintf("to %q: not an RFC 3339 time such as 2024-05-01T12:00:00Z", p.To)
			return p
		}
	}
	p.Query.From = p.Query.To.Add(-DefaultQueryRange)
	if p.From != "" {
		if p.Query.From, err = time.Parse(time.RFC3339, p.From); err != nil {
			p.Error = fmt.Sprintf("from %q: not an RFC 3339 time such as 2024-05-01T11:00:00Z", p.From)
			return p
		}
	}
	if !p.Query.From.Before(p.Query.To) || p.Query.To.Sub(p.Query.From) > MaxQueryRange {
		p.Error = fmt.Sprintf("from must be before to, and at most %d days before it", int(MaxQueryRange/(24*time.Hour)))
	}
	return p
}

// answer writes the page or its JSON form.
func (h *CentralHandler) answer(w http.ResponseWriter, r *http.Request, wantJSON bool, code int, p centralPage) {
	if !wantJSON {
		p.Title = "Traffic archive of the nodes"
		(&Handler{cfg: HandlerConfig{Logger: h.log}}).render(w, r, code, "central.html", p)
		return
	}
	var body []byte
	if code != http.StatusOK {
		body, _ = json.Marshal(map[string]string{"error": p.Error})
	} else {
		body, _ = json.Marshal(centralJSON{Addr: p.Addr, From: p.Query.From, To: p.Query.To, Results: p.Results})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(append(body, '\n'))
	}
}
