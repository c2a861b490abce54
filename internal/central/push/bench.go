package push

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
)

// BenchOptions configure BenchPropagation.
type BenchOptions struct {
	Nodes  int
	Rounds int
	// ViaPoll leaves Notify out, as for a change committed by another
	// central process: only the Hub's Versions poll reveals it.
	ViaPoll bool
}

// BenchResult is the propagation time of a change to every node.
type BenchResult struct {
	BenchOptions
	P50 time.Duration
	P99 time.Duration
	Max time.Duration
}

func (r BenchResult) String() string {
	return fmt.Sprintf("nodes=%d rounds=%d via_poll=%v p50=%v p99=%v max=%v", r.Nodes, r.Rounds, r.ViaPoll, r.P50, r.P99, r.Max)
}

// BenchPropagation measures how long a change at central takes to reach
// nodes: a Handler on a loopback HTTP server over a FakeSource, and nodes
// in-process clients (api.NodeClient, real signed long-polls, one
// connection each). Each round waits until every node's long-poll is
// waiting, changes every node's list and calls Notify, and times each
// node until it has the new list.
func BenchPropagation(ctx context.Context, opts BenchOptions) (BenchResult, error) {
	nodes := max(opts.Nodes, 1)
	src := NewFakeSource()
	hub := NewHub(src, nil)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go hub.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return BenchResult{}, fmt.Errorf("bench listen: %w", err)
	}
	srv := &http.Server{Handler: NewHandler(src, hub, Options{})}
	go srv.Serve(ln)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: nodes + 1}}
	defer hc.CloseIdleConnections()
	clients := make([]*api.NodeClient, nodes)
	ids := make([]int64, nodes)
	for i := range clients {
		ids[i] = int64(i + 1)
		secret := fmt.Sprintf("bench-secret-%d", i+1)
		src.AddNode(ids[i], secret)
		clients[i] = api.NewNodeClient("http://"+ln.Addr().String(), ids[i], secret, hc)
	}
	var lat []time.Duration
	for r := 0; r < max(opts.Rounds, 1); r++ {
		l, err := benchRound(ctx, src, hub, clients, ids, r, opts.ViaPoll)
		if err != nil {
			return BenchResult{}, err
		}
		lat = append(lat, l...)
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	return BenchResult{BenchOptions: opts, P50: pct(0.50), P99: pct(0.99), Max: lat[len(lat)-1]}, nil
}

// benchRound runs one change and returns each node's latency.
func benchRound(ctx context.Context, src *FakeSource, hub *Hub, clients []*api.NodeClient, ids []int64, round int, viaPoll bool) ([]time.Duration, error) {
	arrived := make([]time.Time, len(clients))
	errs := make([]error, len(clients))
	var wg sync.WaitGroup
	for i, c := range clients {
		since, err := src.NodeSlivers(ctx, ids[i])
		if err != nil {
			return nil, err
		}
		wg.Go(func() {
			list, err := c.Slivers(ctx, since.Version)
			arrived[i] = time.Now()
			if err == nil && list.Version == since.Version {
				err = errors.New("long-poll ended without the change")
			}
			errs[i] = err
		})
	}
	for deadline := time.Now().Add(30 * time.Second); hub.Waiters() < len(clients); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("bench: only %d of %d nodes waiting after 30 s", hub.Waiters(), len(clients))
		}
	}
	start := time.Now()
	sl := []api.Sliver{{Name: "bench_slice", SliceID: 1, Instantiation: "plc-instantiated",
		Keys:       []api.SliverKey{{KeyType: "ssh", Key: "ssh-ed25519 AAAAC3Nza bench@example"}},
		Attributes: []api.Attribute{{TagName: "round", Value: fmt.Sprint(round)}}}}
	for _, id := range ids {
		src.SetSlivers(id, sl, true)
	}
	if !viaPoll {
		hub.Notify(ids)
	}
	wg.Wait()
	lat := make([]time.Duration, len(clients))
	for i := range arrived {
		if errs[i] != nil {
			return nil, fmt.Errorf("bench node %d: %w", ids[i], errs[i])
		}
		lat[i] = arrived[i].Sub(start)
	}
	return lat, nil
}
