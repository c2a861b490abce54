package store_test

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// trafficRow is a row of slice to dst:port at minute m (Unix minutes).
func trafficRow(m int64, slice, dst string, port uint16, packets uint64) api.TrafficRow {
	return api.TrafficRow{Minute: m * 60, Slice: slice, Dst: dst, Proto: 6, DstPort: port,
		TCPFlags: 0x02, Packets: packets, Bytes: packets * 100}
}

func testTraffic(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "tr")
	ta, ctx := s.Traffic(), t.Context()
	n0, n1 := f.nodes[0].NodeID, f.nodes[1].NodeID
	batch := api.TrafficBatch{ID: "b1", Rows: []api.TrafficRow{
		trafficRow(100, "tr_one", "192.0.2.7", 80, 10),
		trafficRow(101, "tr_one", "::ffff:192.0.2.7", 80, 5), // the same address, mapped
		trafficRow(101, "tr_one", "192.0.2.7", 443, 1),
		trafficRow(102, "tr_two", "192.0.2.7", 22, 3),
		trafficRow(100, "tr_one", "2001:db8::1", 53, 9),
	}}
	added, dup, err := ta.AddTraffic(ctx, n0, batch)
	if err != nil || added != 5 || dup {
		t.Fatalf("AddTraffic = %d, %v, %v; want 5, false, nil", added, dup, err)
	}
	// A retry of the same batch, even concurrent ones, adds nothing.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if added, dup, err := ta.AddTraffic(ctx, n0, batch); err != nil || added != 0 || !dup {
				t.Errorf("AddTraffic again = %d, %v, %v; want 0, true, nil", added, dup, err)
			}
		})
	}
	wg.Wait()
	// The same ID from another node is another batch.
	other := api.TrafficBatch{ID: "b1", Rows: []api.TrafficRow{trafficRow(101, "tr_one", "192.0.2.7", 80, 7)}}
	if added, dup, err := ta.AddTraffic(ctx, n1, other); err != nil || added != 1 || dup {
		t.Fatalf("AddTraffic other node = %d, %v, %v", added, dup, err)
	}
	if _, _, err := ta.AddTraffic(ctx, 9999, api.TrafficBatch{ID: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddTraffic unknown node: %v, want ErrNotFound", err)
	}

	sums, err := ta.TrafficTo(ctx, netip.MustParseAddr("192.0.2.7"), 100*60, 102*60)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]store.TrafficSum{}
	for _, s := range sums {
		byKey[fmt.Sprintf("%s/%s/%d", s.Node, s.Slice, s.DstPort)] = s
	}
	host0, host1 := f.nodes[0].Hostname, f.nodes[1].Hostname
	want := map[string]store.TrafficSum{
		host0 + "/tr_one/80":  {Node: host0, Slice: "tr_one", Proto: 6, DstPort: 80, TCPFlags: 2, Packets: 15, Bytes: 1500, First: 6000, Last: 6060},
		host0 + "/tr_one/443": {Node: host0, Slice: "tr_one", Proto: 6, DstPort: 443, TCPFlags: 2, Packets: 1, Bytes: 100, First: 6060, Last: 6060},
		host1 + "/tr_one/80":  {Node: host1, Slice: "tr_one", Proto: 6, DstPort: 80, TCPFlags: 2, Packets: 7, Bytes: 700, First: 6060, Last: 6060},
	}
	equal(t, "traffic to 192.0.2.7 in [100, 102) (tr_two's minute 102 is out)", byKey, want)
	v6, err := ta.TrafficTo(ctx, netip.MustParseAddr("2001:db8::1"), 0, 1<<40)
	if err != nil || len(v6) != 1 || v6[0].Packets != 9 {
		t.Errorf("traffic to 2001:db8::1 = %+v, %v", v6, err)
	}

	testTrafficPrune(t, s, n0)
}

// testTrafficPrune checks the retention and the row bound.
func testTrafficPrune(t *testing.T, s store.Store, node int64) {
	ta, ctx := s.Traffic(), t.Context()
	var rows []api.TrafficRow
	for m := range int64(50) {
		rows = append(rows, trafficRow(1000+m, "tr_one", "198.51.100.1", 80, 1))
	}
	if _, _, err := ta.AddTraffic(ctx, node, api.TrafficBatch{ID: "many", Rows: rows}); err != nil {
		t.Fatal(err)
	}
	before, _ := ta.TrafficRows(ctx)
	// Retention: every minute before 1000 goes (the 6 rows above).
	n, err := ta.PruneTraffic(ctx, 1000*60, 0)
	if err != nil || n != before-50 {
		t.Fatalf("PruneTraffic(retention) = %d, %v; want %d", n, err, before-50)
	}
	// Row bound: the 20 newest rows stay.
	if n, err := ta.PruneTraffic(ctx, 1000*60, 20); err != nil || n != 30 {
		t.Fatalf("PruneTraffic(20 rows) = %d, %v; want 30", n, err)
	}
	sums, err := ta.TrafficTo(ctx, netip.MustParseAddr("198.51.100.1"), 0, 1<<40)
	if err != nil || len(sums) != 1 || sums[0].Packets != 20 || sums[0].First != 1030*60 {
		t.Errorf("after pruning: %+v, %v; want 20 packets from minute 1030", sums, err)
	}
	if left, _ := ta.TrafficRows(ctx); left != 20 {
		t.Errorf("%d rows left, want 20", left)
	}
	// Batch IDs are kept as long as their rows may be: a retry of "many"
	// still adds nothing.
	if added, dup, err := ta.AddTraffic(ctx, node, api.TrafficBatch{ID: "many", Rows: rows}); added != 0 || !dup || err != nil {
		t.Errorf("retry after pruning = %d, %v, %v", added, dup, err)
	}
}
