package audit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// sumPackets sums rows' packets by slice and destination.
func sumPackets(rows []Row) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range rows {
		m[r.Slice+" "+r.Dst.String()] += r.Packets
	}
	return m
}

// TestArchiveSurvivesCentralDown: closed minutes reach the archive in
// batches; while central is down they wait in the spool, across a restart
// of the node, and reach central once it is back.
func TestArchiveSurvivesCentralDown(t *testing.T) {
	ctx := testutil.Context(t)
	fake := &FakeArchive{}
	dir := t.TempDir()
	spool, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	clock := func() time.Time { return now }
	ar := NewArchiver("node1", fake, spool, 2, testutil.Logger(t))
	a, src := startAuditor(t, Config{Archiver: ar, Now: clock, Grace: time.Hour}) // Tick by hand

	send(t, a, src, twoSlices[:2]) // minutes 12:20..12:29
	fake.SetDown(true)
	a.Tick(ctx) // closes up to 12:29 - grace... grace is an hour: nothing yet
	if n := len(fake.Batches()); n != 0 {
		t.Fatalf("%d batches before any minute closed", n)
	}
	now = testNow.Add(time.Hour + time.Minute) // minutes up to 12:30 closed
	a.Tick(ctx)
	if spool.Len() == 0 || len(fake.Batches()) != 0 {
		t.Fatalf("central down: %d batches spooled, %d pushed", spool.Len(), len(fake.Batches()))
	}
	spooled := spool.Len()
	spool.Close()
	if spool, err = OpenSpool(dir, 1<<20); err != nil { // the node restarts
		t.Fatal(err)
	}
	defer spool.Close()
	if spool.Len() != spooled {
		t.Fatalf("after a restart the spool holds %d batches, want %d", spool.Len(), spooled)
	}
	ar = NewArchiver("node1", fake, spool, 2, testutil.Logger(t))
	fake.SetDown(false)
	if !ar.Flush(ctx) {
		t.Fatal("flush failed with central back")
	}
	batches := fake.Batches()
	for _, b := range batches {
		if b.Node != "node1" || len(b.Rows) > 2 {
			t.Errorf("batch of node %q with %d rows (batches of at most 2)", b.Node, len(b.Rows))
		}
	}
	want := map[string]uint64{"alice_ping 192.0.2.1": 10, "alice_ping 198.51.100.7": 5}
	if got := sumPackets(fake.Rows()); len(got) != len(want) || got["alice_ping 192.0.2.1"] != 10 || got["alice_ping 198.51.100.7"] != 5 {
		t.Errorf("archive holds %v, want %v", got, want)
	}
	if spool.Len() != 0 {
		t.Errorf("spool still holds %d batches", spool.Len())
	}
}

func TestSpoolBound(t *testing.T) {
	spool, err := OpenSpool(t.TempDir(), 600)
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	row := Row{Minute: testNow, Slice: "alice_ping", Dst: flowPacket(0, 1, 1).Dst, Packets: 7}
	one, _ := json.Marshal([]Row{row})
	n := 600/len(one) + 3
	for range n {
		if err := spool.Put([]Row{row}); err != nil {
			t.Fatal(err)
		}
	}
	kept := 600 / len(one)
	if spool.Len() != kept {
		t.Errorf("spool holds %d batches, want %d within its bound", spool.Len(), kept)
	}
	if d := spool.Dropped(); d.Batches != uint64(n-kept) || d.Packets != uint64(7*(n-kept)) {
		t.Errorf("spool dropped %+v, want %d batches of 7 packets", d, n-kept)
	}
}

// TestCentralQuery: the archive answers which slices sent to an address
// between two times, in HTML and JSON, and refuses bad queries.
func TestCentralQuery(t *testing.T) {
	ctx := testutil.Context(t)
	store := NewMemArchive(1000)
	fake := &FakeArchive{}
	a, src := startAuditor(t, Config{Archiver: NewArchiver("node1", fake, nil, 0, testutil.Logger(t)),
		Now: func() time.Time { return testNow.Add(time.Hour) }, Grace: time.Hour})
	send(t, a, src, twoSlices)
	a.Tick(ctx)
	if err := store.Push(ctx, "node1", fake.Rows()); err != nil {
		t.Fatal(err)
	}
	h := NewCentralHandler(store, testutil.Logger(t))
	h.now = func() time.Time { return testNow.Add(2 * time.Hour) }

	_, doc := get(t, h, "/?addr=192.0.2.1&from=2024-05-01T12:00:00Z&to=2024-05-01T13:00:00Z")
	rows := tableRows(t, doc, "results")
	if len(rows) != 2 || rows[0][0] != "alice_ping" || rows[0][2] != "10" || rows[1][0] != "bob_scan" || rows[1][2] != "3" || rows[0][1] != "node1" {
		t.Errorf("results: %q", rows)
	}
	// Only the minutes 12:25 and later: half of alice_ping's packets; bob_scan sent before.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?format=json&addr=192.0.2.1&from=2024-05-01T12:25:00Z&to=2024-05-01T13:00:00Z", nil))
	var res centralJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatalf("json: %v: %s", err, rec.Body)
	}
	if len(res.Results) != 1 || res.Results[0].Slice != "alice_ping" || res.Results[0].Packets != 5 {
		t.Errorf("json results: %+v", res.Results)
	}
	for _, q := range []string{"addr=nope", "addr=192.0.2.1&from=2024-05-01T13:00:00Z&to=2024-05-01T12:00:00Z", "addr=192.0.2.1&from=2020-01-01T00:00:00Z&to=2024-05-01T12:00:00Z"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/?"+q, nil))
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", q, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", rec.Code)
	}
}

// TestSpoolDropsHalfWrittenBatches: batches half written when the agent
// died are removed when the spool opens, so they do not hold disk that
// the spool's bound does not count.
func TestSpoolDropsHalfWrittenBatches(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{".atomic-00000000000000000001.json-1234", "00000000000000000002.json.tmp"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("[{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	spool, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer spool.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 || spool.Len() != 0 {
		t.Errorf("after opening, the spool directory holds %d files and the spool %d batches, want none", len(ents), spool.Len())
	}
}
