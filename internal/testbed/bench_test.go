package testbed_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// The benchmarks share one testbed, brought up by the first and torn
// down by TestMain: the framework calls a benchmark more than once.
var bench struct {
	once sync.Once
	cfg  testbed.Config
	st   *testbed.State
	err  error
}

func benchTestbed(b *testing.B) (testbed.Config, *testbed.State) {
	bench.once.Do(func() {
		bench.cfg = testConfig(b, 3)
		// The testbed outlives this call of the benchmark: its directory
		// and logger must too.
		bench.cfg.Dir, bench.err = os.MkdirTemp("", "orbistest-testbed-bench-")
		bench.cfg.Log = nil
		if bench.err != nil {
			return
		}
		bench.st, bench.err = testbed.Up(context.Background(), bench.cfg)
	})
	if bench.err != nil {
		b.Fatalf("up: %v", bench.err)
	}
	return bench.cfg, bench.st
}

func downBenchTestbed() {
	if bench.cfg.Dir == "" {
		return
	}
	if r, err := testbed.Down(context.Background(), bench.cfg); err != nil {
		fmt.Printf("bench testbed down: %v (%v)\n", err, r)
	}
	os.RemoveAll(bench.cfg.Dir)
}

// BenchmarkSliceToSSH measures the time from AddSliceToNodes on three
// testbed nodes until `ssh slice@node true` succeeds on each (OpenSSH,
// retried every 20 ms): central's push, the node's resource and node
// managers, the sliver's creation and boot, and the SSH gateway's login.
// Run it with -benchtime=10x; it reports the medians over the runs, and
// beside them one `ssh slice@node true` into a sliver already running.
func BenchmarkSliceToSSH(b *testing.B) {
	testutil.RequireRoot(b)
	_, st := benchTestbed(b)
	p := newPLC(b, st)
	email := fmt.Sprintf("bench%d@orbis.test", time.Now().UnixNano())
	key := newUser(b, p, email)
	var all, each, login []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		slice := fmt.Sprintf("%s_b%d", testbed.Site, time.Now().UnixNano()%1e9)
		newSlice(p, slice, email)
		b.StartTimer()
		t0 := time.Now()
		p.call("AddSliceToNodes", slice, hostnames(st))
		per := sshTrueEverywhere(b, key, slice, st, t0)
		all = append(all, time.Since(t0))
		each = append(each, per...)
		b.StopTimer()
		t1 := time.Now()
		if err := sshCmd(context.Background(), key, slice, st.Nodes[0], "true").Run(); err != nil {
			b.Fatalf("ssh into a running sliver: %v", err)
		}
		login = append(login, time.Since(t1))
		p.call("DeleteSlice", slice)
		b.StartTimer()
	}
	b.ReportMetric(ms(median(login)), "ms-p50-ssh-running")
	b.ReportMetric(ms(median(all)), "ms-p50-all3")
	b.ReportMetric(ms(median(each)), "ms-p50-node")
	b.ReportMetric(ms(slices.Max(all)), "ms-max-all3")
}

// sshTrueEverywhere retries `ssh slice@node true` on every node at once
// until each succeeds, and returns how long each took from t0.
func sshTrueEverywhere(b *testing.B, key, slice string, st *testbed.State, t0 time.Time) []time.Duration {
	out := make([]time.Duration, len(st.Nodes))
	var wg sync.WaitGroup
	for i, n := range st.Nodes {
		wg.Go(func() {
			deadline := t0.Add(30 * time.Second)
			for time.Now().Before(deadline) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := sshCmd(ctx, key, slice, n, "true").Run()
				cancel()
				if err == nil {
					out[i] = time.Since(t0)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i, d := range out {
		if d == 0 {
			b.Fatalf("ssh %s@%s true never succeeded", slice, st.Nodes[i].Addr)
		}
	}
	return out
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
