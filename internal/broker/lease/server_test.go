package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

func newServer(t *testing.T, c CapacitySource) (*Client, *Book) {
	t.Helper()
	b := openBook(t, t.TempDir())
	srv := &Server{Book: b, Cap: c, Log: testutil.Logger(t), Now: func() time.Time { return at(t0) }}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return NewClient(ts.URL), b
}

// TestServerAPI reserves, lists, schedules and cancels through the
// client, as the CLI does.
func TestServerAPI(t *testing.T) {
	ctx := context.Background()
	c, _ := newServer(t, FixedCapacity{Cap: Capacity{Slivers: 1, CPUShares: 10}})
	info, err := c.Info(ctx)
	if err != nil || info.SlotSeconds != slot || info.Now != t0 || info.Capacity.Slivers != 1 {
		t.Fatalf("info: %+v, %v", info, err)
	}
	r, err := c.Reserve(ctx, req("site_a", t0+slot, 1, 3))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Reserve(ctx, req("site_b", t0+slot, 1, 1))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict || !strings.Contains(ce.Msg, "1 of 1 slivers") {
		t.Errorf("a second sliver in a slot of one: %v", err)
	}
	ls, err := c.Leases(ctx)
	if err != nil || len(ls) != 1 || ls[0].ID != r.Lease.ID {
		t.Errorf("leases: %+v, %v", ls, err)
	}
	sched, err := c.Schedule(ctx, t0, 3)
	if err != nil || len(sched) != 3 || sched[1].Slivers != 1 || sched[1].CPUShares != 3 {
		t.Errorf("schedule: %+v, %v", sched, err)
	}
	if _, err := c.Cancel(ctx, r.Lease.ID, "x"); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Errorf("cancel with a wrong token: %v", err)
	}
	if l, err := c.Cancel(ctx, r.Lease.ID, r.Token); err != nil || l.State != StateCancelled {
		t.Errorf("cancel: %+v, %v", l, err)
	}
}

// TestServerHostileInput: every malformed request gets a 4xx with a
// message saying what is wrong, and the book stays empty.
func TestServerHostileInput(t *testing.T) {
	c, b := newServer(t, FixedCapacity{Cap: Capacity{Slivers: 10, CPUShares: 10}})
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"not JSON", "POST", "/v1/leases", "slice=x", 400, "malformed request"},
		{"unknown field", "POST", "/v1/leases", `{"slice":"site_a","rcap":"x"}`, 400, `unknown field "rcap"`},
		{"wrong type", "POST", "/v1/leases", `{"slice":5}`, 400, "malformed request"},
		{"two objects", "POST", "/v1/leases", `{} {}`, 400, "trailing data"},
		{"truncated", "POST", "/v1/leases", `{"slice":"site_a"`, 400, "malformed request"},
		{"huge", "POST", "/v1/leases", `{"slice":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "over"},
		{"empty object", "POST", "/v1/leases", `{}`, 400, "slice: empty"},
		{"huge number", "POST", "/v1/leases", `{"slice":"site_a","start":1e300}`, 400, "malformed request"},
		{"cancel unknown", "POST", "/v1/cancel", `{"id":"x","token":"y"}`, 404, "no such lease"},
		{"cancel long id", "POST", "/v1/cancel", `{"id":"` + strings.Repeat("a", 100) + `"}`, 400, "id:"},
		{"schedule from", "GET", "/v1/schedule?from=yesterday", "", 400, "from:"},
		{"schedule far", "GET", "/v1/schedule?from=9223372036854775807", "", 400, "from:"},
		{"schedule slots", "GET", "/v1/schedule?slots=100000", "", 400, "slots:"},
		{"GET leases with POST verb", "PUT", "/v1/leases", "", 405, ""},
	} {
		rq, _ := http.NewRequest(tc.method, c.URL()+tc.path, strings.NewReader(tc.body))
		res, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(res.Body)
		res.Body.Close()
		var e Error
		json.Unmarshal(data, &e)
		if res.StatusCode != tc.status || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, res.StatusCode, data, tc.status, tc.want)
		}
	}
	if n := len(b.Leases()); n != 0 {
		t.Errorf("%d leases after hostile requests", n)
	}
}

// TestServerNoDelegation: without a delegation the broker answers 503 and
// says why.
func TestServerNoDelegation(t *testing.T) {
	c, _ := newServer(t, FixedCapacity{Problem: "this slice holds no pool rcap on this node"})
	body, _ := json.Marshal(req("site_a", 0, 1, 1))
	res, err := http.Post(c.URL()+"/v1/leases", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(data), "no pool rcap") {
		t.Errorf("reserve without a delegation: %d %s", res.StatusCode, data)
	}
}

// TestConcurrentReservations: reservations racing over HTTP never
// over-commit a slot, and every confirmed one is in the book on disk.
func TestConcurrentReservations(t *testing.T) {
	dir := t.TempDir()
	b := openBook(t, dir)
	srv := &Server{Book: b, Cap: FixedCapacity{Cap: Capacity{Slivers: 5, CPUShares: 100}}, Log: testutil.Logger(t), Now: func() time.Time { return at(t0) }}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	c := NewClient(ts.URL)
	const n = 40
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.Reserve(context.Background(), req(fmt.Sprintf("site_s%d", i), t0+slot*int64(1+i%2), 1, 10))
			if err == nil {
				ids <- r.Lease.ID
			}
		}()
	}
	wg.Wait()
	close(ids)
	confirmed := map[string]bool{}
	for id := range ids {
		confirmed[id] = true
	}
	if len(confirmed) != 10 {
		t.Errorf("%d reservations confirmed, want 5 slivers in each of 2 slots", len(confirmed))
	}
	onDisk := map[string]bool{}
	for _, l := range openBook(t, dir).Leases() {
		onDisk[l.ID] = true
	}
	for id := range confirmed {
		if !onDisk[id] {
			t.Errorf("confirmed lease %s is not in the book on disk", id)
		}
	}
	if len(onDisk) != len(confirmed) {
		t.Errorf("%d leases on disk, %d confirmed", len(onDisk), len(confirmed))
	}
}
