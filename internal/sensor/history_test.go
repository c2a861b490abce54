package sensor

import (
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 0.01 }

// TestRates feeds 15 minutes of samples, 5 s apart: 10 minutes at 50% CPU
// and 8 kbit/s sent, then 5 minutes at 100% and 16 kbit/s.
func TestRates(t *testing.T) {
	h := newHistory(5*time.Second, 15*time.Minute, 10)
	t0 := time.Unix(1700000000, 0)
	var cpu time.Duration
	var tx uint64
	for i := 0; i <= 180; i++ {
		if i > 0 && i <= 120 {
			cpu, tx = cpu+2500*time.Millisecond, tx+5000
		} else if i > 120 {
			cpu, tx = cpu+5*time.Second, tx+10000
		}
		h.add(t0.Add(time.Duration(i)*5*time.Second), []SliceSample{{Name: "s", CPUUsage: cpu, TxBytes: tx, RxBytes: 42, MemoryBytes: int64(i), Procs: 2}})
	}
	st := h.stats()
	if len(st) != 1 {
		t.Fatalf("stats: %v", st)
	}
	got := st[0]
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"cpu 1m", got.r1.cpuPct, 100}, {"cpu 5m", got.r5.cpuPct, 100}, {"cpu 15m", got.r15.cpuPct, (120*50 + 60*100) / 180.0},
		{"tx 1m", got.r1.txKbps, 16}, {"tx 15m", got.r15.txKbps, (120*8 + 60*16) / 180.0}, {"rx 15m", got.r15.rxKbps, 0},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %.3f, want %.3f", c.what, c.got, c.want)
		}
	}
	if got.mem != 180 || got.procs != 2 || got.last.tx != tx {
		t.Errorf("latest: mem %d procs %d tx %d", got.mem, got.procs, got.last.tx)
	}
	if r, last, ok := h.bandwidth("s"); !ok || !near(r.txKbps, 16) || last.rx != 42 {
		t.Errorf("bandwidth: %v %v %v", r, last, ok)
	}
	if n := len(h.slices["s"].pts); n != h.size || h.size != 181 {
		t.Errorf("%d points kept, size %d, want 181", n, h.size)
	}
}

func TestRatesEdgeCases(t *testing.T) {
	h := newHistory(5*time.Second, 15*time.Minute, 10)
	t0 := time.Unix(1700000000, 0)
	h.add(t0, []SliceSample{{Name: "s", CPUUsage: 10 * time.Second, TxBytes: 1000}})
	if st := h.stats(); st[0].r1 != (rates{}) {
		t.Errorf("one sample has rates: %+v", st[0].r1)
	}
	// The cgroup was recreated: counters start again from zero.
	h.add(t0.Add(5*time.Second), []SliceSample{{Name: "s", CPUUsage: time.Second, TxBytes: 10}})
	if st := h.stats(); st[0].r1 != (rates{}) {
		t.Errorf("counters going back give rates: %+v", st[0].r1)
	}
	h.add(t0.Add(10*time.Second), nil)
	if st := h.stats(); len(st) != 0 {
		t.Errorf("a slice gone is still listed: %v", st)
	}
}

// TestHistoryBounds: a churn of 100,000 slice names, and then more
// long-lived slices than allowed, keep the history within its bounds.
func TestHistoryBounds(t *testing.T) {
	const maxSlices = DefaultMaxSlices
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	h := newHistory(5*time.Second, 15*time.Minute, maxSlices)
	t0 := time.Unix(1700000000, 0)
	batch := make([]SliceSample, 1000)
	for round := range 100 { // 100 rounds of 1000 new names
		for i := range batch {
			batch[i] = SliceSample{Name: fmt.Sprintf("churn%d_%d", round, i), CPUUsage: time.Second}
		}
		h.add(t0.Add(time.Duration(round)*5*time.Second), batch)
		if kept, _ := h.counts(); kept > maxSlices {
			t.Fatalf("round %d: %d slices kept", round, kept)
		}
	}
	all := make([]SliceSample, 100_000) // then all at once
	for i := range all {
		all[i] = SliceSample{Name: fmt.Sprintf("many%06d", i)}
	}
	h.add(t0.Add(time.Hour), all)
	if kept, dropped := h.counts(); kept != maxSlices || dropped != len(all)-maxSlices {
		t.Errorf("100k at once: kept %d, dropped %d", kept, dropped)
	}
	all = nil
	// 1500 long-lived slices for 20 minutes: the first 1024 are kept, each
	// with 15 minutes of points.
	long := make([]SliceSample, 1500)
	for i := range long {
		long[i] = SliceSample{Name: fmt.Sprintf("long%04d", i)}
	}
	for i := range 240 {
		h.add(t0.Add(2*time.Hour+time.Duration(i)*5*time.Second), long)
	}
	kept, _ := h.counts()
	grown := int64(heap()) - int64(before)
	t.Logf("kept %d slices, heap grew %d KiB", kept, grown>>10)
	if kept != maxSlices || len(h.slices["long0000"].pts) != h.size || h.slices["long1499"] != nil {
		t.Errorf("kept %d slices; long0000 has %d points", kept, len(h.slices["long0000"].pts))
	}
	// 1024 slices x 181 points x 32 bytes is under 6 MiB.
	if grown > 16<<20 {
		t.Errorf("heap grew %d MiB", grown>>20)
	}
	runtime.KeepAlive(h)
}

func TestSliceNamesBounded(t *testing.T) {
	h := newHistory(5*time.Second, time.Minute, 10)
	long := string(make([]byte, 65))
	h.add(time.Now(), []SliceSample{{Name: ""}, {Name: "a\nb"}, {Name: long}, {Name: "ok"}, {Name: "ok"}})
	if st := h.stats(); len(st) != 1 || st[0].name != "ok" {
		t.Errorf("kept %v", st)
	}
}
