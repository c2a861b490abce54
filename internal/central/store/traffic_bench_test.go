package store_test

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Benchmarks of the traffic archive: loading benchTrafficRows rows (as
// nodes push them, 5,000 a batch) spread over 10,000 destinations, 2
// nodes, 20 slices and 30 days, then asking which slices sent to one
// address in one day and in the whole month. ORBIS_BENCH_TRAFFIC_ROWS
// changes the row count.
func BenchmarkTrafficSQLite(b *testing.B)   { runTrafficBenchmarks(b, sqliteBackend) }
func BenchmarkTrafficPostgres(b *testing.B) { runTrafficBenchmarks(b, postgresBackend) }

const (
	benchTrafficDsts  = 10000
	benchTrafficBatch = 5000
	benchTrafficDays  = 30
)

func benchTrafficRows() int {
	if n, err := strconv.Atoi(os.Getenv("ORBIS_BENCH_TRAFFIC_ROWS")); err == nil && n > 0 {
		return n
	}
	return 2_000_000
}

// benchDst is the i-th destination address.
func benchDst(i int) string {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}).String()
}

func runTrafficBenchmarks(b *testing.B, be backend) {
	s := be.newStore(b)
	f := seed(b, s, "tb")
	total := benchTrafficRows()
	start := time.Now()
	loadTraffic(b, s, f, total)
	load := time.Since(start)
	b.Logf("%s: loaded %d rows in %v (%.0f rows/s)", be.name, total, load.Round(time.Millisecond), float64(total)/load.Seconds())
	minutes := int64(benchTrafficDays * 24 * 60)
	ask := func(b *testing.B, span int64) {
		found := 0
		for i := 0; b.Loop(); i++ {
			dst := netip.MustParseAddr(benchDst(i * 7919 % benchTrafficDsts))
			from := (i * 131 % int(max(1, minutes-span))) * 60
			sums, err := s.Traffic().TrafficTo(b.Context(), dst, int64(from), int64(from)+span*60)
			if err != nil {
				b.Fatal(err)
			}
			found += len(sums)
		}
		b.ReportMetric(float64(found)/float64(b.N), "groups/op")
	}
	b.Run("QueryOneDay", func(b *testing.B) { ask(b, 24*60) })
	b.Run("QueryMonth", func(b *testing.B) { ask(b, minutes) })
	b.Run("PushBatch", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			rows := benchBatch(1_000_000_000+i*benchTrafficBatch, benchTrafficBatch)
			if _, _, err := s.Traffic().AddTraffic(b.Context(), f.nodes[0].NodeID, api.TrafficBatch{ID: fmt.Sprintf("p%d", i), Rows: rows}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(benchTrafficBatch, "rows/op")
	})
}

// loadTraffic pushes total rows in batches, alternating the two nodes.
func loadTraffic(b *testing.B, s store.Store, f fixture, total int) {
	for k, done := 0, 0; done < total; k++ {
		n := min(benchTrafficBatch, total-done)
		node := f.nodes[k%2].NodeID
		if _, _, err := s.Traffic().AddTraffic(b.Context(), node, api.TrafficBatch{ID: fmt.Sprintf("load%d", k), Rows: benchBatch(done, n)}); err != nil {
			b.Fatal(err)
		}
		done += n
	}
}

// benchBatch is rows first to first+n of the synthetic month: row i is at
// minute i*minutes/total-ish (spread evenly by a stride), to one of the
// destinations, from one of 20 slices.
func benchBatch(first, n int) []api.TrafficRow {
	minutes := benchTrafficDays * 24 * 60
	rows := make([]api.TrafficRow, n)
	for j := range rows {
		i := first + j
		rows[j] = api.TrafficRow{Minute: int64(i%minutes) * 60, Slice: fmt.Sprintf("tb_s%d", i%20),
			Dst: benchDst(i * 31 % benchTrafficDsts), Proto: 6, DstPort: uint16(i % 1024), TCPFlags: 0x18,
			Packets: uint64(i%50 + 1), Bytes: uint64(i%50+1) * 500}
	}
	return rows
}
