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

// testOperator is the operator's secret of the test servers.
const testOperator = "00112233445566778899aabbccddeeff"

// newServer serves a book in a temporary directory; the client it returns
// carries testCred.
func newServer(t *testing.T, c CapacitySource) (*Client, *Book) {
	t.Helper()
	b := openBook(t, t.TempDir())
	srv := &Server{Book: b, Cap: c, Log: testutil.Logger(t), Now: func() time.Time { return at(t0) }, OperatorHash: hashToken(testOperator)}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return NewClient(ts.URL).WithAuth(testCred), b
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
		auth                     string // testCred if ""; "-" for none
	}{
		{"no credential", "POST", "/v1/leases", `{"slice":"site_a"}`, 401, "no credential", "-"},
		{"no credential, bad body", "POST", "/v1/leases", `{{{`, 401, "no credential", "-"},
		{"malformed credential", "POST", "/v1/leases", `{}`, 401, "malformed", "tester"},
		{"short secret", "POST", "/v1/leases", `{}`, 401, "malformed", "tester:abc"},
		{"bad account name", "POST", "/v1/leases", `{}`, 401, "malformed", "Tester/..:0123456789abcdef0123456789abcdef"},
		{"wrong secret", "POST", "/v1/leases", `{}`, 401, "unknown account or wrong secret", "tester:ffffffffffffffffffffffffffffffff"},
		{"unknown account", "POST", "/v1/leases", `{}`, 401, "unknown account or wrong secret", "nobody:0123456789abcdef0123456789abcdef"},
		{"account without credential", "GET", "/v1/account", "", 401, "no credential", "-"},
		{"accounts as a buyer", "GET", "/v1/accounts", "", 401, "operator secret", ""},
		{"grant as a buyer", "POST", "/v1/accounts", `{"account":"eve","credit":1000000}`, 401, "operator secret", ""},
		{"grant bad name", "POST", "/v1/accounts", `{"account":"../x","credit":1}`, 400, "not an account name", testOperator},
		{"grant huge", "POST", "/v1/accounts", `{"account":"eve","credit":1e30}`, 400, "malformed request", testOperator},
		{"grant over the max", "POST", "/v1/accounts", `{"account":"eve","credit":1099511627777}`, 400, "out of range", testOperator},
		{"grant negative to new", "POST", "/v1/accounts", `{"account":"eve","credit":-5}`, 404, "no such account", testOperator},
		{"grant below used", "POST", "/v1/accounts", `{"account":"tester","credit":-1073741825}`, 409, "below", testOperator},
		{"grant with another's credential", "POST", "/v1/accounts", `{"account":"eve","credit":1,"credential":"` + testCred + `"}`, 400, "names account", testOperator},
		{"grant rotate and credential", "POST", "/v1/accounts", `{"account":"tester","rotate":true,"credential":"` + testCred + `"}`, 400, "not both", testOperator},
		{"grant unknown field", "POST", "/v1/accounts", `{"account":"eve","used":-100}`, 400, `unknown field "used"`, testOperator},
		{"not JSON", "POST", "/v1/leases", "slice=x", 400, "malformed request", ""},
		{"unknown field", "POST", "/v1/leases", `{"slice":"site_a","rcap":"x"}`, 400, `unknown field "rcap"`, ""},
		{"wrong type", "POST", "/v1/leases", `{"slice":5}`, 400, "malformed request", ""},
		{"two objects", "POST", "/v1/leases", `{} {}`, 400, "trailing data", ""},
		{"truncated", "POST", "/v1/leases", `{"slice":"site_a"`, 400, "malformed request", ""},
		{"huge", "POST", "/v1/leases", `{"slice":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "over", ""},
		{"empty object", "POST", "/v1/leases", `{}`, 400, "slice: not a slice name: empty", ""},
		{"huge number", "POST", "/v1/leases", `{"slice":"site_a","start":1e300}`, 400, "malformed request", ""},
		{"cancel unknown", "POST", "/v1/cancel", `{"id":"x","token":"y"}`, 404, "no such lease", ""},
		{"cancel long id", "POST", "/v1/cancel", `{"id":"` + strings.Repeat("a", 100) + `"}`, 400, "id:", ""},
		{"schedule from", "GET", "/v1/schedule?from=yesterday", "", 400, "from:", ""},
		{"schedule far", "GET", "/v1/schedule?from=9223372036854775807", "", 400, "from:", ""},
		{"schedule slots", "GET", "/v1/schedule?slots=100000", "", 400, "slots:", ""},
		{"GET leases with POST verb", "PUT", "/v1/leases", "", 405, "", ""},
	} {
		rq, _ := http.NewRequest(tc.method, c.URL()+tc.path, strings.NewReader(tc.body))
		switch tc.auth {
		case "":
			rq.Header.Set("Authorization", "Bearer "+testCred)
		case "-":
		default:
			rq.Header.Set("Authorization", "Bearer "+tc.auth)
		}
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
	if as := b.Accounts(); len(as) != 1 || as[0].Name != "tester" || as[0].Used != 0 {
		t.Errorf("accounts after hostile requests: %+v", as)
	}
}

// TestServerNoDelegation: without a delegation the broker answers 503 and
// says why.
func TestServerNoDelegation(t *testing.T) {
	c, _ := newServer(t, FixedCapacity{Problem: "this slice holds no pool rcap on this node"})
	body, _ := json.Marshal(req("site_a", 0, 1, 1))
	rq, _ := http.NewRequest("POST", c.URL()+"/v1/leases", bytes.NewReader(body))
	rq.Header.Set("Authorization", "Bearer "+testCred)
	res, err := http.DefaultClient.Do(rq)
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
	c := NewClient(ts.URL).WithAuth(testCred)
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
