package push

import (
	"fmt"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// BenchmarkPropagation reports p50 and p99 of the time from a change's
// Notify until each of N in-process nodes, long-polling over loopback
// HTTP, has the new list.
func BenchmarkPropagation(b *testing.B) {
	for _, poll := range []bool{false, true} {
		for _, n := range []int{100, 1000} {
			benchPropagation(b, BenchOptions{Nodes: n, ViaPoll: poll})
		}
	}
}

func benchPropagation(b *testing.B, opts BenchOptions) {
	b.Run(fmt.Sprintf("nodes=%d/via_poll=%v", opts.Nodes, opts.ViaPoll), func(b *testing.B) {
		opts.Rounds = b.N
		r, err := BenchPropagation(testutil.Context(b), opts)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.P50)/float64(time.Millisecond), "p50-ms")
		b.ReportMetric(float64(r.P99)/float64(time.Millisecond), "p99-ms")
		b.ReportMetric(float64(r.Max)/float64(time.Millisecond), "max-ms")
	})
}

// TestPropagationUnderTwoSeconds checks the target on 1,000
// nodes: p99 of the propagation under 2 s.
func TestPropagationUnderTwoSeconds(t *testing.T) {
	r, err := BenchPropagation(testutil.Context(t), BenchOptions{Nodes: 1000, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(r)
	if r.P99 > 2*time.Second {
		t.Fatalf("p99 %v over 2 s: %v", r.P99, r)
	}
}
