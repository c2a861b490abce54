package push

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// trafficFake is a FakeSource with an archive of batches, once per ID.
type trafficFake struct {
	*FakeSource

	// mu guards the following.
	mu   sync.Mutex
	seen map[string]bool
	rows []api.TrafficRow
}

func (f *trafficFake) PushTraffic(ctx context.Context, node int64, b api.TrafficBatch) (api.TrafficReceipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := fmt.Sprint(node, "/", b.ID)
	if f.seen[key] {
		return api.TrafficReceipt{Duplicate: true}, nil
	}
	f.seen[key] = true
	f.rows = append(f.rows, b.Rows...)
	return api.TrafficReceipt{Added: len(b.Rows)}, nil
}

func (f *trafficFake) Rows() []api.TrafficRow {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.TrafficRow(nil), f.rows...)
}

// newTrafficEnv is an env whose source keeps traffic.
func newTrafficEnv(t *testing.T) (*env, *trafficFake) {
	src := &trafficFake{FakeSource: NewFakeSource(), seen: map[string]bool{}}
	log := testutil.Logger(t)
	hub := NewHub(src, log)
	srv := httptest.NewServer(NewHandler(src, hub, Options{Log: log}))
	hc := &http.Client{}
	t.Cleanup(func() { hc.CloseIdleConnections(); srv.Close() })
	return &env{t: t, src: src.FakeSource, hub: hub, srv: srv, hc: hc}, src
}

func minuteAgo(n int) int64 {
	return time.Now().Truncate(time.Minute).Add(-time.Duration(n) * time.Minute).Unix()
}

// TestTrafficPush checks that a signed batch is stored once however often
// the node retries it, in canonical form.
func TestTrafficPush(t *testing.T) {
	e, src := newTrafficEnv(t)
	e.src.AddNode(1, "s1")
	c := e.client(1, "s1")
	batch := api.TrafficBatch{ID: "abc", Rows: []api.TrafficRow{
		{Minute: minuteAgo(2), Slice: "pl_one", Dst: "::ffff:192.0.2.1", Proto: 6, DstPort: 80, Packets: 3, Bytes: 180},
		{Minute: minuteAgo(2), Slice: "pl_two", Dst: "2001:db8::1", Proto: 17, DstPort: 53, Packets: 1, Bytes: 60},
	}}
	for i := range 3 {
		rec, err := c.PushTraffic(t.Context(), batch)
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if want := (api.TrafficReceipt{Added: 2, Duplicate: false}); i == 0 && rec != want {
			t.Errorf("first push: %+v, want %+v", rec, want)
		}
		if want := (api.TrafficReceipt{Duplicate: true}); i > 0 && rec != want {
			t.Errorf("retry %d: %+v, want %+v", i, rec, want)
		}
	}
	rows := src.Rows()
	if len(rows) != 2 || rows[0].Dst != "192.0.2.1" {
		t.Errorf("stored %+v; want the 2 rows once, 192.0.2.1 unmapped", rows)
	}
}

// TestTrafficRefusals checks signatures, the size bound and malformed
// batches.
func TestTrafficRefusals(t *testing.T) {
	e, src := newTrafficEnv(t)
	e.src.AddNode(1, "s1")
	const uri = api.NodePath + "traffic"
	body := func(b api.TrafficBatch) []byte { data, _ := json.Marshal(b); return data }
	row := api.TrafficRow{Minute: minuteAgo(1), Slice: "pl_one", Dst: "192.0.2.1", Proto: 6, DstPort: 80, Packets: 1, Bytes: 60}
	good := body(api.TrafficBatch{ID: "g", Rows: []api.TrafficRow{row}})
	with := func(f func(*api.TrafficRow)) []byte {
		r := row
		f(&r)
		return body(api.TrafficBatch{ID: "x", Rows: []api.TrafficRow{r}})
	}
	huge := append([]byte(`{"id":"h","rows":[],"pad":"`), strings.Repeat("a", api.MaxTrafficBody)...)
	tests := []struct {
		name   string
		req    signed
		status int
		msg    string
	}{
		{"wrong secret", sign(1, "wrong", "POST", uri, good), 401, "bad signature"},
		{"unsigned body changed", func() signed {
			s := sign(1, "s1", "POST", uri, good)
			s.body = with(func(r *api.TrafficRow) { r.Packets = 1e6 })
			return s
		}(), 401, "bad signature"},
		{"GET", sign(1, "s1", "GET", uri, nil), 405, "not allowed"},
		{"too large", sign(1, "s1", "POST", uri, huge), 413, "over the limit"},
		{"not an address", sign(1, "s1", "POST", uri, with(func(r *api.TrafficRow) { r.Dst = "example.org" })), 400, "not an IP address"},
		{"not a minute", sign(1, "s1", "POST", uri, with(func(r *api.TrafficRow) { r.Minute += 7 })), 400, "minute"},
		{"future minute", sign(1, "s1", "POST", uri, with(func(r *api.TrafficRow) { r.Minute += 3600 })), 400, "minute"},
		{"no slice", sign(1, "s1", "POST", uri, with(func(r *api.TrafficRow) { r.Slice = "" })), 400, "slice"},
		{"no id", sign(1, "s1", "POST", uri, body(api.TrafficBatch{Rows: []api.TrafficRow{row}})), 400, "batch id"},
		{"unknown field", sign(1, "s1", "POST", uri, []byte(`{"id":"u","rows":[],"extra":1}`)), 400, "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, msg := e.send(tc.req)
			if st != tc.status || !strings.Contains(msg, tc.msg) {
				t.Errorf("got %d %s; want %d with %q", st, msg, tc.status, tc.msg)
			}
		})
	}
	if n := len(src.Rows()); n != 0 {
		t.Errorf("%d rows stored from refused requests", n)
	}
	if st, msg := e.send(sign(1, "s1", "POST", uri, good)); st != 200 || len(src.Rows()) != 1 {
		t.Errorf("good push after refusals: %d %s", st, msg)
	}
	// A client refuses to send what central would refuse as too large.
	var big api.TrafficBatch
	big.ID = "big"
	for range api.MaxTrafficBody / 60 {
		big.Rows = append(big.Rows, row)
	}
	_, err := e.client(1, "s1").PushTraffic(t.Context(), big)
	var ce *api.NodeCallError
	if !errors.As(err, &ce) || ce.Status != 413 {
		t.Errorf("client push of a huge batch: %v, want a 413 NodeCallError", err)
	}
}

// TestTrafficWithoutArchive checks that a central without an archive
// says so.
func TestTrafficWithoutArchive(t *testing.T) {
	e := newEnv(t, Options{})
	e.src.AddNode(1, "s1")
	_, err := e.client(1, "s1").PushTraffic(t.Context(), api.TrafficBatch{ID: "a"})
	var ce *api.NodeCallError
	if !errors.As(err, &ce) || ce.Status != 404 {
		t.Errorf("push to a central without archive: %v, want 404", err)
	}
}
