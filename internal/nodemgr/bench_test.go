package nodemgr

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// BenchmarkAcquireBind10k acquires and binds 10,000 slivers with the fake
// runtime and reports the mean time of an acquire+bind among the first
// 1000 and among the last 1000: with one small record file per change,
// they should be about the same.
func BenchmarkAcquireBind10k(b *testing.B) {
	for b.Loop() {
		first, last := acquireBind(b, 10000)
		b.ReportMetric(float64(first.Nanoseconds()), "first1000-ns/op")
		b.ReportMetric(float64(last.Nanoseconds()), "last1000-ns/op")
	}
}

func acquireBind(b *testing.B, n int) (first, last time.Duration) {
	rt, _ := NewFakeRuntime("")
	m, err := Open(context.Background(), Options{StateDir: b.TempDir(), Runtime: rt,
		Node: Node{MemoryBytes: 1 << 40, DiskBytes: 1 << 50}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	var t0 time.Time
	for i := range n {
		if i == 0 || i == n-1000 {
			t0 = time.Now()
		}
		rc, err := m.Acquire(ctx, api.Rspec{MemoryGuarantee: 1 << 20, Privileges: api.Privileges{CreateSliver: true}})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Bind(ctx, fmt.Sprintf("orbistest_s%d", i), rc, api.BindAttrs{}); err != nil {
			b.Fatal(err)
		}
		switch i {
		case 999:
			first = time.Since(t0) / 1000
		case n - 1:
			last = time.Since(t0) / 1000
		}
	}
	return first, last
}
