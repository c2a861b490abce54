package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// flippingCentral is a fake central whose nodes report on slice mit_x over
// time after AddSliceToNodes: script maps each node to the reports it
// makes, each after a delay.
func flippingCentral(t *testing.T, script map[int64][]timedReport) *fakeMethods {
	var mu sync.Mutex
	var added time.Time
	hosts := map[int64]string{1: "n1.example.org", 2: "n2.example.org", 3: "n3.example.org"}
	return serveFake(t, map[string]func([]any) any{
		"GetSlices": func(args []any) any {
			if args[0] != "mit_x" {
				return []api.Slice{}
			}
			return []api.Slice{{SliceID: 5, Name: "mit_x", Instantiation: "plc-instantiated"}}
		},
		"GetNodes": func(args []any) any {
			var out []api.Node
			for id, h := range hosts {
				if strings.Contains(strings.Join(toStrings(args[0]), " "), h) || args[0] == float64(id) {
					out = append(out, api.Node{NodeID: id, Hostname: h})
				}
			}
			return out
		},
		"AddSliceToNodes": func(args []any) any {
			mu.Lock()
			added = time.Now()
			mu.Unlock()
			return 1
		},
		"GetSliverReports": func(args []any) any {
			mu.Lock()
			since := time.Since(added)
			if added.IsZero() {
				since = -1
			}
			mu.Unlock()
			var out []api.SliverReportRow
			for node, reports := range script {
				var cur *api.SliverReportRow
				for _, r := range reports {
					if since >= r.after {
						cur = &api.SliverReportRow{NodeID: node, Name: "mit_x", State: api.SliverState(r.state), Reason: r.reason, Updated: r.updated}
					}
				}
				if cur != nil {
					out = append(out, *cur)
				}
			}
			return out
		},
	})
}

type timedReport struct {
	after         time.Duration // after AddSliceToNodes; -1: before it already
	state, reason string
	updated       int64
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func TestAddNodesProgress(t *testing.T) {
	now := time.Now().Unix()
	flippingCentral(t, map[int64][]timedReport{
		1: {{300 * time.Millisecond, "creating", "", now}, {600 * time.Millisecond, "running", "", now + 1}},
		2: {
			{-1, "failed", "old reason", now - 100}, // a failure from before: not the answer
			{600 * time.Millisecond, "failed", "cpu_guarantee: 300 requested, 200 of 1000 free", now + 1},
		},
	})
	out, _, err := runCLI(t, "", "slice", "add-nodes", "mit_x", "n1.example.org", "n2.example.org", "n3.example.org", "--wait", "1500ms")
	t.Logf("output:\n%s", out)
	if err == nil {
		t.Fatal("add-nodes succeeded with a failed and a silent node")
	}
	wantLines := []string{
		"added slice mit_x to 3 node(s)",
		"n1.example.org  creating",
		"n1.example.org  running",
		"n2.example.org  failed: cpu_guarantee: 300 requested, 200 of 1000 free",
	}
	for _, l := range wantLines {
		if strings.Count(out, l+"\n") != 1 {
			t.Errorf("output has %q %d times, want once", l, strings.Count(out, l+"\n"))
		}
	}
	if strings.Contains(out, "old reason") || strings.Contains(out, "n3.example.org") {
		t.Errorf("output shows a stale failure or a node that never reported:\n%s", out)
	}
	for _, want := range []string{
		"slice mit_x is not running on 2 of 3 node(s)",
		"n2.example.org: failed: cpu_guarantee: 300 requested",
		"n3.example.org: no report after 1.5s (the node has never contacted central",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "n1.example.org") {
		t.Errorf("error names the running node:\n%v", err)
	}
}

func TestAddNodesAllRunning(t *testing.T) {
	f := flippingCentral(t, map[int64][]timedReport{
		1: {{200 * time.Millisecond, "idle", "", time.Now().Unix()}}, // booted, no process left: up too
		2: {{-1, "running", "", time.Now().Unix() - 50}},             // already there: running is the answer
	})
	start := time.Now()
	out, _, err := runCLI(t, "", "slice", "add-nodes", "mit_x", "n1.example.org", "n2.example.org")
	if err != nil {
		t.Fatalf("add-nodes: %v\n%s", err, out)
	}
	if !strings.HasSuffix(out, "slice mit_x is running on 2 node(s)\n") {
		t.Errorf("output:\n%s", out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("add-nodes took %v after every sliver ran", d)
	}
	if n := f.called("GetSliverReports"); n < 2 || n > 30 {
		t.Errorf("polled %d times in %v", n, time.Since(start))
	}
}

func TestAddNodesNoWait(t *testing.T) {
	f := flippingCentral(t, nil)
	out, _, err := runCLI(t, "", "slice", "add-nodes", "--no-wait", "mit_x", "n1.example.org")
	if err != nil || out != "added slice mit_x to 1 node(s)\n" {
		t.Errorf("add-nodes --no-wait: %q, %v", out, err)
	}
	if f.called("AddSliceToNodes") != 1 {
		t.Errorf("AddSliceToNodes called %d times", f.called("AddSliceToNodes"))
	}
}

func TestAddNodesBadInput(t *testing.T) {
	f := flippingCentral(t, nil)
	_, _, err := runCLI(t, "", "slice", "add-nodes", "mit_nope", "n1.example.org")
	if err == nil || !strings.Contains(err.Error(), `no slice "mit_nope"`) {
		t.Errorf("unknown slice: %v", err)
	}
	_, _, err = runCLI(t, "", "slice", "add-nodes", "mit_x", "n1.example.org", "n9.example.org")
	if err == nil || !strings.Contains(err.Error(), "no node n9.example.org") {
		t.Errorf("unknown node: %v", err)
	}
	if f.called("AddSliceToNodes") != 0 {
		t.Error("AddSliceToNodes called despite bad input")
	}
}

func TestProgressRedrawsOnTerminal(t *testing.T) {
	var b bytes.Buffer
	w := &sliverWatch{nodes: []api.Node{{NodeID: 1, Hostname: "n1"}, {NodeID: 2, Hostname: "node2"}}, out: &b, tty: true}
	w.draw(make([]sliverState, 2))
	w.draw(make([]sliverState, 2)) // no change: nothing drawn
	w.draw([]sliverState{{&api.SliverReportRow{State: "running"}}, {}})
	want := "\r\x1b[2Kn1     waiting for the node\n\r\x1b[2Knode2  waiting for the node\n" +
		"\x1b[2A\r\x1b[2Kn1     running\n\r\x1b[2Knode2  waiting for the node\n"
	if b.String() != want {
		t.Errorf("terminal output %q\nwant %q", b.String(), want)
	}
}
