package sensor

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Content types of the answers.
const (
	csvType     = "text/csv; charset=utf-8; header=present"
	textType    = "text/plain; charset=utf-8"
	metricsType = "text/plain; version=0.0.4; charset=utf-8"
)

// Kinds of sensors, as / lists them.
const (
	Snapshot = "snapshot"
	Stream   = "stream"
)

// sensor is one entry of the server's table.
type sensor struct {
	name, kind, schema, desc string
	// snapshot answers a snapshot sensor.
	snapshot func(ctx context.Context, q *query) (*answer, error)
	// stream checks a stream request and returns what runs it: header is
	// its CSV header line, run emits tuples until ctx is done or emit
	// fails.
	stream func(ctx context.Context, q *query) (header []string, run func(ctx context.Context, emit emitFunc) error, err error)
}

// emitFunc writes tuples to a stream's client at once.
type emitFunc func(rows ...[]string) error

// query is a request as a sensor sees it.
type query struct {
	// rest is the path after the sensor's name, split at slashes.
	rest []string
	// values is the URL's query.
	values url.Values
	// maxAge is the oldest cached answer the client accepts; hasMaxAge
	// says whether it asked for one.
	maxAge    time.Duration
	hasMaxAge bool
}

// answer is a snapshot sensor's answer.
type answer struct {
	ctype string
	body  []byte
	age   time.Duration // of a cached answer
}

// csvAnswer encodes a header line and rows.
func csvAnswer(header []string, rows [][]string) *answer {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows) // a bytes.Buffer does not fail
	return &answer{ctype: csvType, body: b.Bytes()}
}

// httpError is an error a client is told about, with its status.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// errNotAvailable is the error of a sensor whose source this node lacks.
func errNotAvailable(name string) error {
	return errorf(http.StatusNotFound, "sensor %s: not available on this node", name)
}

// ServeHTTP answers one sensor request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, r, errorf(http.StatusMethodNotAllowed, "method %s not allowed: sensors answer GET and HEAD only", r.Method))
		return
	}
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
		s.fail(w, r, errorf(http.StatusBadRequest, "sensor requests carry no body"))
		return
	}
	if r.URL.Path == "/" {
		w.Header().Set("Vary", "Accept")
		if wantsHTML(r) {
			s.servePage(w, r)
			return
		}
		s.serveSnapshot(w, r, s.indexSensor(), &query{})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	sn, ok := s.sensors[parts[0]]
	if !ok {
		s.fail(w, r, errorf(http.StatusNotFound, "no sensor %q on this node: GET / lists them", parts[0]))
		return
	}
	q, err := parseQuery(r, parts[1:])
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if sn.kind == Stream {
		s.serveStream(w, r, sn, q)
		return
	}
	s.serveSnapshot(w, r, sn, q)
}

// parseQuery reads the path's rest, the query and the max-age asked in
// either the query (?max-age=N) or Cache-Control (max-age=N, no-cache).
func parseQuery(r *http.Request, rest []string) (*query, error) {
	q := &query{values: r.URL.Query()}
	for _, p := range rest {
		if p != "" {
			q.rest = append(q.rest, p)
		}
	}
	v := q.values.Get("max-age")
	for _, d := range strings.Split(r.Header.Get("Cache-Control"), ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if d == "no-cache" && v == "" {
			v = "0"
		}
		if n, ok := strings.CutPrefix(d, "max-age="); ok && v == "" {
			v = n
		}
	}
	if v == "" {
		return q, nil
	}
	n, err := strconv.ParseUint(v, 10, 31)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "max-age %q: not a number of seconds", v)
	}
	q.maxAge, q.hasMaxAge = time.Duration(n)*time.Second, true
	return q, nil
}

// serveSnapshot answers a snapshot sensor: headers with the length, and
// the body unless the request is HEAD.
func (s *Server) serveSnapshot(w http.ResponseWriter, r *http.Request, sn *sensor, q *query) {
	a, err := sn.snapshot(r.Context(), q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	if a.age > 0 {
		h.Set("Age", strconv.Itoa(int(a.age/time.Second)))
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(a.body)
	}
}

// serveStream answers a streaming sensor: the header line at once, then
// tuples as they come, until the client or the server goes. HEAD gets the
// headers only and takes no stream slot.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, sn *sensor, q *query) {
	ctx := r.Context()
	header, run, err := sn.stream(ctx, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", csvType)
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	client := clientOf(r)
	if err := s.streams.take(client); err != nil {
		w.Header().Set("Retry-After", "10")
		s.fail(w, r, err)
		return
	}
	defer s.streams.give(client)
	emit := s.emitter(w)
	if err := emit(header); err != nil {
		return
	}
	if err := run(ctx, emit); err != nil && ctx.Err() == nil {
		s.log.Debug("stream ended", "sensor", sn.name, "err", err)
	}
}

// emitter writes tuples to w and flushes them, each write bounded by the
// write timeout so that a client that stops reading is dropped.
func (s *Server) emitter(w http.ResponseWriter) emitFunc {
	rc := http.NewResponseController(w)
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	return func(rows ...[]string) error {
		b.Reset()
		cw.WriteAll(rows)
		if err := rc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
			return fmt.Errorf("stream deadline: %w", err)
		}
		if _, err := w.Write(b.Bytes()); err != nil {
			return fmt.Errorf("write stream: %w", err)
		}
		return rc.Flush()
	}
}

// fail answers err: its own status and message if it is an httpError,
// else 503 with a message free of internals, the details going to the
// log.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client or the server is gone
	}
	var he *httpError
	if !errors.As(err, &he) {
		s.log.Warn("sensor failed", "path", r.URL.Path, "err", err)
		he = &httpError{code: http.StatusServiceUnavailable, msg: "sensor failed: see the node's log"}
	}
	w.Header().Set("Content-Type", textType)
	w.Header().Set("Content-Length", strconv.Itoa(len(he.msg)+1))
	w.WriteHeader(he.code)
	if r.Method != http.MethodHead {
		fmt.Fprintln(w, he.msg)
	}
}
