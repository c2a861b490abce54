package central_test

import (
	"context"
	"fmt"
	"net/http"
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
		all = append(all, propagate(b, clients, slice, func() { tc.callB(b, "AddSliceToNodes", slice, hosts) })...)
	}
	b.StopTimer()
	reportLatencies(b, all)
}
