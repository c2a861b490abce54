package sensor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingNodes is a NodeSource whose node names carry the number of the
// fetch that made them; it fails while fail is set and takes delay.
type countingNodes struct {
	fetches atomic.Int64
	fail    atomic.Bool
	delay   time.Duration
}

func (c *countingNodes) Nodes(ctx context.Context) ([]Node, error) {
	n := c.fetches.Add(1)
	select {
	case <-time.After(c.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if c.fail.Load() {
		return nil, errors.New("central unreachable")
	}
	return []Node{{ID: "1", Hostname: fmt.Sprintf("fetch%d.example.org", n)}}, nil
}

// getNodes GETs /nodes/name with an optional Cache-Control header and
// returns the status, the node name and the Age header.
func getNodes(t *testing.T, url, cacheControl string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if cacheControl != "" {
		req.Header.Set("Cache-Control", cacheControl)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err) // not Fatal: called from goroutines
		return 0, "", ""
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Error(err)
	}
	_, name, _ := strings.Cut(string(body), "\n")
	return res.StatusCode, strings.TrimSpace(name), res.Header.Get("Age")
}

func TestNodesMaxAge(t *testing.T) {
	src := &countingNodes{}
	_, base := startServer(t, Config{Nodes: src})
	u := base + "/nodes/name"
	steps := []struct {
		query, header string
		sleep         time.Duration
		want          string // the fetch whose answer comes back
	}{
		{"", "", 0, "fetch1"},
		{"", "", 0, "fetch1"},                                // default max age: minutes
		{"?max-age=60", "", 0, "fetch1"},                     // fresh enough
		{"?max-age=0", "", 0, "fetch2"},                      // must be new
		{"", "max-age=0", 0, "fetch3"},                       // the same through Cache-Control
		{"", "no-cache", 0, "fetch4"},                        // no-cache is max-age=0
		{"", "max-age=1", 1100 * time.Millisecond, "fetch5"}, // older than 1 s
		{"?max-age=5", "", 0, "fetch5"},
	}
	var fetched time.Time // just before the request that made fetch5
	for i, st := range steps {
		time.Sleep(st.sleep)
		if st.want == "fetch5" && fetched.IsZero() {
			fetched = time.Now()
		}
		code, name, age := getNodes(t, u+st.query, st.header)
		if code != 200 || name != st.want+".example.org" || age == "" {
			t.Errorf("step %d (%s %s): %d %q Age %q, want %s", i, st.query, st.header, code, name, age, st.want)
		}
	}
	time.Sleep(1100 * time.Millisecond)
	_, _, age := getNodes(t, u, "")
	// The Age is whole seconds since the fetch: at least 1 after the
	// sleep, at most the time since the request that made it (a busy
	// machine may take longer than the sleep).
	if n, err := strconv.Atoi(age); err != nil || n < 1 || n > int(time.Since(fetched).Seconds()) {
		t.Errorf("Age %q %.1f s after the fetch, want 1 to %d", age, time.Since(fetched).Seconds(), int(time.Since(fetched).Seconds()))
	}
	src.fail.Store(true)
	if code, name, _ := getNodes(t, u, ""); code != 200 || name != "fetch5.example.org" {
		t.Errorf("central down, default max age: %d %q, want the stale list", code, name)
	}
	if code, _, _ := getNodes(t, u+"?max-age=0", ""); code != 503 {
		t.Errorf("central down, max-age=0: %d, want 503", code)
	}
}

// TestNodesOneFetch: many clients asking for a fresh list at once share
// one fetch.
func TestNodesOneFetch(t *testing.T) {
	src := &countingNodes{delay: 200 * time.Millisecond}
	_, base := startServer(t, Config{Nodes: src})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if code, name, _ := getNodes(t, base+"/nodes/name?max-age=0", ""); code != 200 || name != "fetch1.example.org" {
				t.Errorf("got %d %q", code, name)
			}
		})
	}
	wg.Wait()
	if n := src.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 20 concurrent requests, want 1", n)
	}
}
