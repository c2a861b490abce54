package loadtest

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// Benchmark timing: senders run for benchWarmup+benchWindow+benchTail;
// the rates are measured over benchWindow.
const (
	benchWarmup = 500 * time.Millisecond
	benchWindow = 2 * time.Second
	benchTail   = 300 * time.Millisecond
)

var modes = []mode{tagged, logged, audited}

// BenchmarkThroughput measures what the auditor costs the node's
// throughput between two namespaces: small UDP datagrams (packets per
// second reaching the peer, from loadSenders processes of one slice) and
// one TCP stream (Mbit/s read by the peer), for a node that only tags its
// slivers' packets, one that also logs them to the stream with nobody
// subscribed, and one that records them in the auditor.
//
// Each iteration is a round that measures the three nodes in turn, about
// 3 s each, so that other work on the machine disturbs them alike; the
// best round of each is reported, with the ratio to the tagged node.
// Since other work on the machine lowers those rates, the CPU time that
// the senders (whose system calls run the tagging and logging) and this
// process (the stream and the auditor) spend per packet, or per KiB of
// TCP, is reported too (median of the rounds): it does not depend on the
// machine being idle. Run it with -benchtime 3x or more (3 rounds take
// about 30 s).
func BenchmarkThroughput(b *testing.B) {
	testutil.RequireRoot(b)
	b.Run("udp", func(b *testing.B) { benchmarkRounds(b, "pkts/s", "cpu-ns/pkt", (*bed).udpRound) })
	b.Run("tcp", func(b *testing.B) { benchmarkRounds(b, "Mbit/s", "cpu-ns/KiB", (*bed).tcpRound) })
}

// round is what one measurement of a bed found.
type round struct {
	rate float64 // packets/s or Mbit/s
	cost float64 // CPU ns per packet or per KiB
	self float64 // the part of cost spent in this process (stream, auditor, sinks)
	lost float64 // fraction of the packets the auditor lost
}

// benchmarkRounds runs rounds of measure on a bed of each mode and
// reports the best rate, the median cost and the auditor's median loss.
func benchmarkRounds(b *testing.B, unit, costUnit string, measure func(*bed, *testing.B) round) {
	beds := map[mode]*bed{}
	for _, m := range modes {
		beds[m] = newBed(b, m)
		beds[m].udpSink(b)
		beds[m].tcpRead = beds[m].tcpSink(b)
	}
	rounds := map[mode][]round{}
	for i := 0; b.Loop(); i++ {
		for j := range modes {
			m := modes[(i+j)%len(modes)] // each mode goes first in turn
			rounds[m] = append(rounds[m], measure(beds[m], b))
		}
	}
	best, cost, self := map[mode]float64{}, map[mode]float64{}, map[mode]float64{}
	for _, m := range modes {
		best[m] = slices.MaxFunc(rounds[m], func(x, y round) int { return cmp(x.rate, y.rate) }).rate
		cost[m] = median(rounds[m], func(r round) float64 { return r.cost })
		self[m] = median(rounds[m], func(r round) float64 { return r.self })
		b.ReportMetric(best[m], m.String()+"-"+unit)
		b.ReportMetric(cost[m], m.String()+"-"+costUnit)
	}
	lost := median(rounds[audited], func(r round) float64 { return r.lost })
	b.ReportMetric(best[audited]/best[tagged], "audited/tagged")
	b.ReportMetric(lost, "audited-lost-fraction")
	b.Logf("%s: tagged %.0f, logged %.0f, audited %.0f (best of %d rounds): audited/tagged %.3f; "+
		"%s: tagged %.0f, logged %.0f, audited %.0f (of which in this process %.0f, %.0f, %.0f); the auditor lost a median %.4f of the packets",
		unit, best[tagged], best[logged], best[audited], len(rounds[audited]), best[audited]/best[tagged],
		costUnit, cost[tagged], cost[logged], cost[audited], self[tagged], self[logged], self[audited], lost)
}

func cmp(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func median(rs []round, f func(round) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

// udpBatch is how many datagrams one sendmmsg call of a UDP sender sends.
const udpBatch = 64

// udpRound floods the UDP sink from loadSenders processes of the slice:
// the rate is the packets per second the peer received.
func (bed *bed) udpRound(b *testing.B) round {
	return bed.measure(b, loadSenders, func(i int) nettest.Send {
		return nettest.Send{UID: bed.slice.UIDBase + uint32(i), To: bed.udpTo(), Payload: 32, Batch: udpBatch}
	}, func() uint64 { return bed.rxPackets(b) }, 1, 1)
}

// tcpRound sends one TCP stream from the slice to the TCP sink: the rate
// is the Mbit/s the peer read.
func (bed *bed) tcpRound(b *testing.B) round {
	return bed.measure(b, 1, func(int) nettest.Send {
		return nettest.Send{TCP: true, UID: bed.slice.UIDBase, To: bed.tcpTo(), Payload: 128 << 10}
	}, bed.tcpRead.Load, 8/1e6, 1024)
}

// measure runs n senders, mk(i) describing the i-th. After a warm-up, the
// rate is how fast count grew over the window, times scale. The cost is
// the CPU time of the senders and of this process per perCost of count,
// over the whole run.
func (bed *bed) measure(b *testing.B, n int, mk func(i int) nettest.Send, count func() uint64, scale, perCost float64) round {
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	first := count()
	var senders []func() (time.Duration, error)
	for i := range n {
		s := mk(i)
		s.For = benchWarmup + benchWindow + benchTail
		cmd := nettest.Start(b, bed.pair, s)
		senders = append(senders, func() (time.Duration, error) {
			err := cmd.Wait()
			return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), err
		})
	}
	time.Sleep(benchWarmup)
	n0, tx0, lost0 := count(), bed.sent(b), bed.lost()
	start := time.Now()
	time.Sleep(benchWindow)
	n1, tx1, lost1 := count(), bed.sent(b), bed.lost()
	secs := time.Since(start).Seconds()
	var cpu time.Duration
	for i, wait := range senders {
		d, err := wait()
		if err != nil {
			b.Errorf("sender %d: %v", i, err)
		}
		cpu += d
	}
	time.Sleep(200 * time.Millisecond) // the stream and the auditor catch up
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	own := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	units := float64(max(count()-first, 1)) / perCost
	return round{
		rate: float64(n1-n0) * scale / secs,
		cost: float64((cpu + own).Nanoseconds()) / units,
		self: float64(own.Nanoseconds()) / units,
		lost: float64(lost1-lost0) / float64(max(tx1-tx0, 1)),
	}
}

// lost is how many packets the auditor lost so far (the stream's drops and
// its own evictions), or 0 without an auditor.
func (bed *bed) lost() uint64 {
	if bed.auditor == nil {
		return 0
	}
	return bed.auditor.Store().Counters().Dropped()
}
