package plc_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

func TestConcurrentClientsSQLite(t *testing.T)   { testConcurrentClients(t, sqliteStore) }
func TestConcurrentClientsPostgres(t *testing.T) { testConcurrentClients(t, postgresStore) }

// testConcurrentClients: 100 PIs at once create slices and add them to
// nodes, on a site that allows 50 slices; 10 race for one name; 20 race
// for the last places of a slice's max_nodes.
func testConcurrentClients(t *testing.T, b backend) {
	e := newEnvOn(t, b)
	const clients, maxSlices, nodes = 100, 50, 10
	site := e.site("conc", maxSlices)
	var nodeIDs []int64
	for i := range nodes {
		nodeIDs = append(nodeIDs, e.node(site, fmt.Sprintf("n%d.conc.org", i)))
	}
	pis := make([]*plc.Caller, clients)
	for i := range pis {
		pid := e.id(e.admin, "AddPerson", map[string]any{"first_name": "P", "last_name": "I", "email": fmt.Sprintf("pi%d@conc.org", i)})
		pis[i] = &plc.Caller{PersonID: pid, Roles: []int64{20}, SiteIDs: []int64{site}}
	}
	e.takeChanged()

	type result struct {
		slice int64
		nodes []int64
		err   error
	}
	results := make([]result, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			r := &results[i]
			v, err := e.call(pis[i], "AddSlice", map[string]any{"name": fmt.Sprintf("conc_s%d", i)})
			if r.err = err; err != nil {
				return
			}
			r.slice = v.(int64)
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			for range 2 { // two overlapping calls: idempotent
				pick := []any{}
				for _, k := range rng.Perm(nodes)[:4] {
					pick = append(pick, nodeIDs[k])
					r.nodes = append(r.nodes, nodeIDs[k])
				}
				if _, r.err = e.call(pis[i], "AddSliceToNodes", r.slice, pick); r.err != nil {
					return
				}
			}
		})
	}
	wg.Wait()

	want := map[int64][]int64{} // node -> slices
	made := 0
	for i, r := range results {
		if r.slice == 0 {
			fault(t, r.err, plc.FaultInvalidArg) // max_slices
			continue
		}
		if r.err != nil {
			t.Fatalf("client %d: %v", i, r.err)
		}
		made++
		got := records(t, e.must(e.admin, "GetSlices", r.slice))[0]["node_ids"].([]any)
		wantNodes := slices.Compact(slices.Sorted(slices.Values(r.nodes)))
		if fmt.Sprint(got) != fmt.Sprint(wantNodes) {
			t.Fatalf("slice %d on %v, want %v", r.slice, got, wantNodes)
		}
		for _, n := range wantNodes {
			want[n] = append(want[n], r.slice)
		}
	}
	if made != maxSlices {
		t.Fatalf("%d slices made, want max_slices %d", made, maxSlices)
	}
	if n := len(records(t, e.must(e.admin, "GetSlices"))); n != maxSlices {
		t.Fatalf("GetSlices lists %d", n)
	}
	changed := e.takeChanged()
	for _, n := range nodeIDs {
		sv, err := e.svc.NodeSlivers(e.ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, s := range sv.Slivers {
			got = append(got, s.SliceID)
		}
		slices.Sort(got)
		slices.Sort(want[n])
		if !slices.Equal(got, want[n]) || (len(got) > 0 && (sv.Version == 0 || !slices.Contains(changed, n))) {
			t.Fatalf("node %d: slivers %v (version %d), want %v", n, got, sv.Version, want[n])
		}
	}
	raceOneName(t, e, pis[:10])
	raceMaxNodes(t, e, pis[:20], nodeIDs)
}

// raceOneName: of clients creating the same slice at once, one wins.
func raceOneName(t *testing.T, e *env, pis []*plc.Caller) {
	e.must(e.admin, "UpdateSite", "conc", map[string]any{"max_slices": 1000})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for _, c := range pis {
		wg.Go(func() {
			_, err := e.call(c, "AddSlice", map[string]any{"name": "conc_same"})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else {
				fault(t, err, plc.FaultInvalidArg)
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d clients created conc_same", wins)
	}
}

// raceMaxNodes: clients each add one node to a slice with room for 3.
func raceMaxNodes(t *testing.T, e *env, pis []*plc.Caller, nodeIDs []int64) {
	sid := e.id(e.admin, "AddSlice", map[string]any{"name": "conc_few", "max_nodes": 3})
	var wg sync.WaitGroup
	for i, c := range pis {
		wg.Go(func() { e.call(c, "AddSliceToNodes", sid, []any{nodeIDs[i%len(nodeIDs)]}) })
	}
	wg.Wait()
	if n := len(records(t, e.must(e.admin, "GetSlices", sid))[0]["node_ids"].([]any)); n != 3 {
		t.Fatalf("slice with max_nodes 3 is on %d nodes", n)
	}
}
