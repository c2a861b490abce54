package loadtest

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

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
// Run it with -benchtime 3x or more (3 rounds take about 30 s).
func BenchmarkThroughput(b *testing.B) {
	testutil.RequireRoot(b)
	b.Run("udp", func(b *testing.B) { benchmarkRounds(b, "pkts/s", (*bed).udpRate) })
	b.Run("tcp", func(b *testing.B) { benchmarkRounds(b, "Mbit/s", (*bed).tcpRate) })
}

// benchmarkRounds runs b.N rounds of rate on a bed of each mode and
// reports the best of each.
func benchmarkRounds(b *testing.B, unit string, rate func(*bed, *testing.B, *sinks) (float64, float64)) {
	beds := map[mode]*bed{}
	sk := map[mode]*sinks{}
	for _, m := range modes {
		beds[m] = newBed(b, m)
		sk[m] = &sinks{tcp: beds[m].tcpSink(b)}
		beds[m].udpSink(b)
	}
	best := map[mode]float64{}
	var lost []float64
	for i := 0; b.Loop(); i++ {
		for j := range modes {
			m := modes[(i+j)%len(modes)] // each mode goes first in turn
			r, l := rate(beds[m], b, sk[m])
			best[m] = max(best[m], r)
			if m == audited {
				lost = append(lost, l)
			}
		}
	}
	for _, m := range modes {
		b.ReportMetric(best[m], m.String()+"-"+unit)
	}
	b.ReportMetric(best[audited]/best[tagged], "audited/tagged")
	b.ReportMetric(best[logged]/best[tagged], "logged/tagged")
	slices.Sort(lost)
	b.ReportMetric(lost[len(lost)/2], "audited-lost-fraction")
	b.Logf("tagged %.0f %s, logged %.0f, audited %.0f: audited/tagged %.3f (best of %d rounds); the auditor lost a median %.4f of the packets",
		best[tagged], unit, best[logged], best[audited], best[audited]/best[tagged], len(lost), lost[len(lost)/2])
}

// sinks are a bed's receivers.
type sinks struct {
	tcp *atomic.Uint64 // bytes read
}

// udpRate floods the UDP sink from loadSenders processes of the slice and
// returns the packets per second the peer received, and the fraction of
// the packets the auditor lost (0 without one).
func (bed *bed) udpRate(b *testing.B, _ *sinks) (rate, lost float64) {
	wait := bed.run(b, loadSenders, func(i int) send {
		return send{UID: bed.slice.UIDBase + uint32(i), To: bed.udpTo(), Payload: 32}
	})
	defer wait()
	return bed.measure(b, func() uint64 { return bed.rxPackets(b) }, 1)
}

// tcpRate sends one TCP stream from the slice to the TCP sink and returns
// the Mbit/s the peer read, and the fraction of the packets the auditor
// lost.
func (bed *bed) tcpRate(b *testing.B, sk *sinks) (rate, lost float64) {
	wait := bed.run(b, 1, func(int) send {
		return send{TCP: true, UID: bed.slice.UIDBase, To: bed.tcpTo(), Payload: 128 << 10}
	})
	defer wait()
	return bed.measure(b, sk.tcp.Load, 8/1e6)
}

// measure waits out the warm-up, then returns how fast count grew over
// the window (times scale), and the fraction of the slice's packets the
// auditor lost meanwhile.
func (bed *bed) measure(b *testing.B, count func() uint64, scale float64) (rate, lost float64) {
	time.Sleep(benchWarmup)
	n0, tx0, lost0 := count(), bed.sent(b), bed.lost()
	start := time.Now()
	time.Sleep(benchWindow)
	n1, tx1, lost1 := count(), bed.sent(b), bed.lost()
	secs := time.Since(start).Seconds()
	return float64(n1-n0) * scale / secs, float64(lost1-lost0) / float64(max(tx1-tx0, 1))
}

// run starts n senders, mk(i) describing the i-th, for the whole
// measurement; the returned function waits for them.
func (bed *bed) run(b *testing.B, n int, mk func(i int) send) (wait func()) {
	var waits []func() error
	for i := range n {
		s := mk(i)
		s.For = benchWarmup + benchWindow + benchTail
		waits = append(waits, startSender(b, bed.pair.SendNS, s).Wait)
	}
	return func() {
		for i, w := range waits {
			if err := w(); err != nil {
				b.Errorf("sender %d: %v", i, err)
			}
		}
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
