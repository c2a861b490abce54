package audit

import (
	"testing"
	"time"
)

// BenchmarkAdd measures the auditor's cost per packet: packets of 100,000
// flows spread over the hour, added to the store in the stream's batches,
// and reports the store's memory at 100,000 flows in the hour.
//
// new-rows: each flow sends once every 6 minutes, so nearly every packet
// makes a row (the worst case); same-minute: the packets of one minute,
// 10 per flow, so most packets add to a row.
func BenchmarkAdd(b *testing.B) {
	b.Run("new-rows", func(b *testing.B) { benchmarkAdd(b, time.Hour) })
	b.Run("same-minute", func(b *testing.B) { benchmarkAdd(b, 0) })
}

func benchmarkAdd(b *testing.B, span time.Duration) {
	const flows = 100_000
	const perHour = 1_000_000
	st, err := NewStore(StoreConfig{})
	if err != nil {
		b.Fatal(err)
	}
	pkts := make([]Packet, perHour)
	for i := range pkts {
		pkts[i] = flowPacket(i, perHour, flows)
		if span == 0 {
			pkts[i].Time = testNow
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += maxBatch {
		j := i % perHour
		st.Add(pkts[j:min(j+maxBatch, perHour, j+b.N-i)]...)
	}
	b.StopTimer()
	c := st.Counters()
	rows, _ := st.Capacity()
	b.ReportMetric(float64(st.TableBytes())/(1<<20), "MiB-tables")
	b.ReportMetric(float64(c.EvictedPackets+c.ForgottenPackets), "evicted-pkts")
	b.ReportMetric(float64(rows), "row-capacity")
}

// BenchmarkHourOf100kFlows reports the rows and bytes one hour of 100,000
// flows needs: each flow sending in every minute of the hour (the worst
// case), and each sending in 10 minutes.
func BenchmarkHourOf100kFlows(b *testing.B) {
	for _, tc := range []struct {
		name    string
		packets int
	}{{"10min-each", 1_000_000}, {"every-minute", 6_000_000}} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				st, err := NewStore(StoreConfig{MemoryBytes: 1 << 30, RawRecords: -1})
				if err != nil {
					b.Fatal(err)
				}
				for i := range tc.packets {
					p := flowPacket(i, tc.packets, 100_000)
					st.Add(p)
				}
				c := st.Counters()
				if c.EvictedPackets != 0 {
					b.Fatal("evicted with a 1 GiB bound")
				}
				rows := st.Summary().Rows
				b.ReportMetric(float64(rows), "rows")
				b.ReportMetric(float64(int64(rows)*(entrySize+bucketSize))/(1<<20), "MiB-needed")
			}
		})
	}
}
