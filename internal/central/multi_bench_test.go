package central_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

// BenchmarkPropagationTwoCentrals measures the time from AddSliceToNodes
// until each of 1,000 nodes has a sliver list naming the slice, with two
// `orbis central` processes on one PostgreSQL database. Each node is a
// lightweight client that only follows its list, with a connection of its
// own. via=haproxy: the nodes and the change all go through haproxy, so
// about half the nodes wait on the process that commits the change and
// half on the other. via=across: every node long-polls process b and the
// change goes to process a, so every wake-up crosses processes (b's Hub
// learns of it through PostgreSQL's NOTIFY). via=one, the baseline: nodes
// and change both go straight to process a (b idles).
func BenchmarkPropagationTwoCentrals(b *testing.B) {
	const n = 1000
	for _, via := range []string{"one", "haproxy", "across"} {
		b.Run(fmt.Sprintf("nodes=%d/via=%s", n, via), func(b *testing.B) {
			e := newMultiEnv(b)
			nodeURL, changeURL := e.lb.url, e.lb.url
			switch via {
			case "across":
				nodeURL, changeURL = e.procs["b"].url, e.procs["a"].url
			case "one":
				nodeURL, changeURL = e.procs["a"].url, e.procs["a"].url
			}
			clients, hosts := e.benchNodes(n, nodeURL)
			var all []time.Duration
			b.ResetTimer()
			for round := range b.N {
				slice := fmt.Sprintf("bm_s%d", round)
				e.call(changeURL, "AddSlice", map[string]any{"name": slice, "url": "http://b", "description": "bench", "max_nodes": n})
				all = append(all, propagate(b, clients, slice, func() { e.call(changeURL, "AddSliceToNodes", slice, hosts) })...)
			}
			b.StopTimer()
			reportLatencies(b, all)
		})
	}
}

// benchNodes makes n nodes straight in the database (registering each
// through PLCAPI would take minutes) and returns a client for each at
// url, and their hostnames.
func (e *multiEnv) benchNodes(n int, url string) ([]*api.NodeClient, []any) {
	e.t.Helper()
	site := e.call(url, "AddSite", map[string]any{"name": "Bench", "abbreviated_name": "B", "login_base": "bm", "max_slices": 1000, "enabled": true}).(int64)
	st, err := store.Open(context.Background(), e.db, "", testutil.Logger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	var clients []*api.NodeClient
	var hosts []any
	err = st.Update(context.Background(), "system", func(tx store.Tx) error {
		clients, hosts = nil, nil
		for i := range n {
			nd := api.Node{Hostname: fmt.Sprintf("bm%d.orbis.test", i), SiteID: site, NodeType: "regular", BootState: "boot", IP: "10.9.0.1"}
			if err := tx.AddNode(&nd); err != nil {
				return err
			}
			secret := fmt.Sprintf("bench-secret-%d", i)
			if err := tx.SetNodeSecret(nd.NodeID, secret); err != nil {
				return err
			}
			clients = append(clients, api.NewNodeClient(url, nd.NodeID, secret, e.nodeHTTP()))
			hosts = append(hosts, nd.Hostname)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return clients, hosts
}

// propagate has every client long-poll, makes change once they all wait,
// and returns how long each took to see slice in its list.
func propagate(t testing.TB, clients []*api.NodeClient, slice string, change func()) []time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	times := make([]time.Duration, len(clients))
	ready := make(chan struct{}, len(clients))
	var mu sync.Mutex
	var t0 time.Time
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			l, err := c.Slivers(ctx, -1) // the current list, then wait for the next
			ready <- struct{}{}
			for err == nil {
				if slices.ContainsFunc(l.Slivers, func(s api.Sliver) bool { return s.Name == slice }) {
					mu.Lock()
					times[i] = time.Since(t0)
					mu.Unlock()
					return
				}
				l, err = c.Slivers(ctx, l.Version)
			}
			t.Errorf("node %d: %v", c.NodeID(), err)
		})
	}
	for range clients {
		<-ready
	}
	time.Sleep(500 * time.Millisecond) // every long-poll is waiting
	mu.Lock()
	t0 = time.Now()
	mu.Unlock()
	change()
	wg.Wait()
	return times
}

// reportLatencies reports the minimum, p50, p99 and the maximum of all,
// in ms.
func reportLatencies(b *testing.B, all []time.Duration) {
	slices.Sort(all)
	b.ReportMetric(float64(all[0])/1e6, "min-ms")
	b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(all[len(all)-1])/1e6, "max-ms")
}
