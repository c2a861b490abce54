package sensor

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// startServer serves cfg on a free loopback port until the test ends, and
// returns the server and its base URL.
func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	cfg.Log = testutil.Logger(t)
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "testdata/proc"
	}
	s := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

// growingSlices is a SliceSource of two slices whose counters grow at
// each sample.
func growingSlices() SliceSource {
	var n atomic.Int64
	return SliceFunc(func(context.Context) ([]SliceSample, error) {
		i := n.Add(1)
		return []SliceSample{
			{Name: "princeton_codeen", CPUUsage: time.Duration(i) * 10 * time.Millisecond, MemoryBytes: 1 << 20, Procs: 3, TxBytes: uint64(i) * 1000, RxBytes: uint64(i) * 500},
			{Name: "mit,quoted", CPUUsage: time.Duration(i) * time.Millisecond, MemoryBytes: 4096, Procs: 1},
		}, nil
	})
}

var testNodes = NodeFunc(func(context.Context) ([]Node, error) {
	return []Node{
		{ID: "1", Hostname: "planetlab-1.cs.princeton.edu", IP: "128.112.139.71", Site: "princeton"},
		{ID: "2", Hostname: "planet1.csail.mit.edu", IP: "128.30.2.10", Site: "mit"},
	}, nil
})

var testPorts = PortFunc(func(context.Context) ([]PortOwner, error) {
	return []PortOwner{{Proto: "tcp", Port: 80, Slice: "princeton_codeen", Kind: "reserved"}, {Proto: "udp", Port: 53000, Slice: "mit_dns", Kind: "bound"}}, nil
})

// fullConfig is a Config with every source, sampled fast.
func fullConfig(ev *FakeEvents) Config {
	return Config{Slices: growingSlices(), Nodes: testNodes, Ports: testPorts, Connects: ev, SampleInterval: 20 * time.Millisecond}
}

// get fetches url with method and returns the answer and its body.
func get(t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return res, string(body)
}

// parseCSV parses a CSV body into its header and rows.
func parseCSV(t *testing.T, body string) ([]string, [][]string) {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("not CSV with a header (%v): %q", err, body)
	}
	return recs[0], recs[1:]
}

// waitFor polls cond until it holds, for at most 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	num   = `^[0-9]+$`
	dec   = `^[0-9]+\.[0-9]{2}$`
	float = `^[0-9]+(\.[0-9]+)?$`
)

func TestSchemas(t *testing.T) {
	ev := &FakeEvents{}
	s, base := startServer(t, fullConfig(ev))
	waitFor(t, "two samples", func() bool { _, seq := s.hist.wait(); return seq >= 2 })
	waitFor(t, "the connects subscription", func() bool { return ev.Subscribers() == 1 })
	ev.Push(ConnectEvent{Time: time.Unix(1700000000, 250e6), Slice: "princeton_codeen", Proto: "tcp",
		Src: netip.MustParseAddrPort("10.0.0.1:40000"), Dst: netip.MustParseAddrPort("[2001:db8::1]:80")})
	waitFor(t, "the event", func() bool { return len(s.connects.recent(1)) == 1 })
	for _, tc := range []struct {
		path   string
		header string
		rows   int // -1: at least one
		cols   []string
		first  []string // exact first row, if set
	}{
		{"/meminfo", "name,kB", 7, []string{`^[A-Za-z()_]+$`, num}, []string{"MemTotal", "4014812"}},
		{"/load", "load1", 1, []string{float}, []string{"0.52"}},
		{"/load5", "load5", 1, []string{float}, []string{"0.58"}},
		{"/uptime", "seconds", 1, []string{float}, []string{"12345.67"}},
		{"/cpus", "cpus", 1, []string{num}, []string{"2"}},
		{"/slices", join(slicesSchema), 2, []string{`.`, dec, dec, dec, num, num, dec, dec, dec, dec, dec, dec}, nil},
		{"/bandwidth/princeton_codeen", join(bandwidthSchema), 1, []string{`^princeton_codeen$`, dec, dec, num, num}, nil},
		{"/bandwidth", join(bandwidthSchema), 2, []string{`.`, dec, dec, num, num}, nil},
		{"/nodes/ip/name", "ip,name", 2, []string{`^[0-9.]+$`, `\.edu$`}, []string{"128.112.139.71", "planetlab-1.cs.princeton.edu"}},
		{"/nodes", "id,name,ip,site", 2, []string{num, `\.edu$`, `^[0-9.]+$`, `^[a-z]+$`}, nil},
		{"/nodes/site/id", "site,id", 2, []string{`^[a-z]+$`, num}, []string{"princeton", "1"}},
		{"/ports", "proto,port,slice,kind", 2, []string{`^(tcp|udp)$`, num, `.`, `.`}, []string{"tcp", "80", "princeton_codeen", "reserved"}},
		{"/connects", join(connectsSchema), 1, []string{`^[0-9]+\.[0-9]{3}$`, `.`, `^tcp$`, `.`, num, `.`, num},
			[]string{"1700000000.250", "princeton_codeen", "tcp", "10.0.0.1", "40000", "2001:db8::1", "80"}},
		{"/", "name,kind,schema,description", len(s.order), []string{`^[a-z0-9-]+$`, `^(snapshot|stream)$`, `.`, `.`}, nil},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(t, "GET", base+tc.path)
			if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") {
				t.Fatalf("status %d, type %q: %s", res.StatusCode, res.Header.Get("Content-Type"), body)
			}
			if line, _, _ := strings.Cut(body, "\n"); line != tc.header {
				t.Errorf("header line %q, want %q", line, tc.header)
			}
			_, rows := parseCSV(t, body)
			if len(rows) != tc.rows {
				t.Fatalf("%d rows, want %d: %q", len(rows), tc.rows, body)
			}
			for _, row := range rows {
				checkRow(t, row, tc.cols)
			}
			if tc.first != nil && strings.Join(rows[0], ",") != strings.Join(tc.first, ",") {
				t.Errorf("first row %q, want %q", rows[0], tc.first)
			}
		})
	}
}

// checkRow checks each field of row against its column's pattern.
func checkRow(t *testing.T, row, cols []string) {
	t.Helper()
	if len(row) != len(cols) {
		t.Fatalf("row %q: %d fields, want %d", row, len(row), len(cols))
	}
	for i, pat := range cols {
		if !regexp.MustCompile(pat).MatchString(row[i]) {
			t.Errorf("row %q: field %d %q does not match %s", row, i, row[i], pat)
		}
	}
}

func TestHead(t *testing.T) {
	s, base := startServer(t, fullConfig(&FakeEvents{}))
	waitFor(t, "a sample", func() bool { _, seq := s.hist.wait(); return seq >= 1 })
	for _, tc := range []struct {
		path   string
		code   int
		stable bool // GET's body is the same each time
	}{
		{"/", 200, true}, {"/meminfo", 200, true}, {"/load", 200, true}, {"/nodes/ip/name", 200, true},
		{"/ports", 200, true}, {"/metrics", 200, false}, {"/slices", 200, false},
		{"/connects-stream", 200, false}, {"/bandwidth-stream/princeton_codeen", 200, false}, {"/nosuch", 404, true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res, body := get(t, "HEAD", base+tc.path)
			if body != "" {
				t.Errorf("HEAD has a body: %q", body)
			}
			if res.StatusCode != tc.code || res.Header.Get("Content-Type") == "" {
				t.Fatalf("HEAD: %d %q, want %d and a type", res.StatusCode, res.Header.Get("Content-Type"), tc.code)
			}
			if strings.Contains(tc.path, "-stream") {
				return // a stream's length is unknown, and its GET never ends
			}
			gres, gbody := get(t, "GET", base+tc.path)
			if gres.Header.Get("Content-Type") != res.Header.Get("Content-Type") {
				t.Errorf("HEAD type %q, GET type %q", res.Header.Get("Content-Type"), gres.Header.Get("Content-Type"))
			}
			if res.ContentLength <= 0 || tc.stable && res.ContentLength != int64(len(gbody)) {
				t.Errorf("HEAD Content-Length %d, GET body %d bytes", res.ContentLength, len(gbody))
			}
		})
	}
}

func TestMethodsAndErrors(t *testing.T) {
	_, base := startServer(t, Config{})
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		for _, path := range []string{"/", "/load", "/nosuch"} {
			res, body := get(t, m, base+path)
			if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q: %s", m, path, res.StatusCode, res.Header.Get("Allow"), body)
			}
		}
	}
	for _, tc := range []struct {
		path string
		code int
		want string
	}{
		{"/nosuch", 404, `no sensor "nosuch"`},
		{"/load/extra", 404, "takes no path"},
		{"/slices", 404, "not available on this node"},
		{"/ports", 404, "not available on this node"},
		{"/nodes/ip/name", 404, "not available on this node"},
		{"/connects-stream", 404, "not available on this node"},
	} {
		res, body := get(t, "GET", base+tc.path)
		if res.StatusCode != tc.code || !strings.Contains(body, tc.want) || strings.Count(body, "\n") != 1 {
			t.Errorf("GET %s: %d %q, want %d with %q on one line", tc.path, res.StatusCode, body, tc.code, tc.want)
		}
	}
	req, _ := http.NewRequest("GET", base+"/load", strings.NewReader("x"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("GET with a body: %d, want 400", res.StatusCode)
	}
}

func TestUnknownColumnsAndSlices(t *testing.T) {
	s, base := startServer(t, fullConfig(&FakeEvents{}))
	waitFor(t, "a sample", func() bool { _, seq := s.hist.wait(); return seq >= 1 })
	for _, tc := range []struct{ path, want string }{
		{"/nodes/ip/password", `no column "password"`},
		{"/bandwidth/nosuch", `no slice "nosuch"`},
		{"/bandwidth-stream/nosuch", `no slice "nosuch"`},
		{"/bandwidth/a/b", "GET /bandwidth/SLICE"},
	} {
		res, body := get(t, "GET", base+tc.path)
		if res.StatusCode != 404 || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %q, want 404 with %q", tc.path, res.StatusCode, body, tc.want)
		}
	}
	res, body := get(t, "GET", base+"/nodes?max-age=abc")
	if res.StatusCode != 400 || !strings.Contains(body, "max-age") {
		t.Errorf("bad max-age: %d %q", res.StatusCode, body)
	}
}

func TestConcurrentClients(t *testing.T) {
	s, base := startServer(t, fullConfig(&FakeEvents{}))
	waitFor(t, "a sample", func() bool { _, seq := s.hist.wait(); return seq >= 1 })
	want := map[string]string{}
	paths := []string{"/meminfo", "/load", "/load5", "/uptime", "/cpus", "/nodes/ip/name", "/ports", "/"}
	for _, p := range paths {
		_, want[p] = get(t, "GET", base+p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50*len(paths))
	for i := range 50 {
		wg.Go(func() {
			c := &http.Client{Transport: &http.Transport{}} // a connection of its own
			defer c.CloseIdleConnections()
			for j := range paths {
				p := paths[(i+j)%len(paths)]
				res, err := c.Get(base + p)
				if err != nil {
					errs <- err
					continue
				}
				body, err := io.ReadAll(res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 || string(body) != want[p] {
					errs <- fmt.Errorf("client %d %s: %d %v %q", i, p, res.StatusCode, err, body)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
