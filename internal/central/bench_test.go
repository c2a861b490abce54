package central_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// BenchmarkPropagation measures the time from AddSliceToNodes (through
// PLCAPI) until each of N nodes has received a sliver list naming the
// slice, over real signed long-polls to a real central on SQLite. Each
// node is a lightweight client that only follows its list.
func BenchmarkPropagation(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchPropagation(b, n) })
	}
}

func benchPropagation(b *testing.B, n int) {
	tc := startCentralB(b)
	site := tc.callB(b, "AddSite", map[string]any{"name": "Bench", "abbreviated_name": "B", "login_base": "bn", "max_slices": 1000, "enabled": true})
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n + 10}}
	var clients []*api.NodeClient
	var hosts []any
	for i := range n {
		host := fmt.Sprintf("b%d.orbis.test", i)
		id := tc.callB(b, "AddNode", site, map[string]any{"hostname": host})
		token := tc.callB(b, "AddNodeToken", id).(string)
		resp, err := api.RegisterNode(context.Background(), tc.url, hc, api.NodeRegisterRequest{Token: token, Hostname: host})
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, api.NewNodeClient(tc.url, resp.NodeID, resp.Secret, hc))
		hosts = append(hosts, host)
	}
	var all []time.Duration
	b.ResetTimer()
	for round := range b.N {
		slice := fmt.Sprintf("bn_s%d", round)
		tc.callB(b, "AddSlice", map[string]any{"name": slice, "url": "http://b", "description": "bench", "max_nodes": n})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var wg sync.WaitGroup
		times := make([]time.Duration, n)
		ready := make(chan struct{}, n)
		var t0 time.Time
		var mu sync.Mutex
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := c.Slivers(ctx, -1) // current list, then wait for the next
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
				b.Errorf("node %d: %v", i, err)
			}()
		}
		for range n {
			<-ready
		}
		time.Sleep(100 * time.Millisecond) // every long-poll is waiting
		mu.Lock()
		t0 = time.Now()
		mu.Unlock()
		tc.callB(b, "AddSliceToNodes", slice, hosts)
		wg.Wait()
		cancel()
		all = append(all, times...)
	}
	b.StopTimer()
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100])/1e6, "p99-ms")
	b.ReportMetric(float64(all[len(all)-1])/1e6, "max-ms")
}
