package shaping

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/netfilter"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// bed is a sender namespace whose slivers are tagged by a netfilter table
// and shaped on its veth, and a receiving peer.
type bed struct {
	p  *nettest.Pair
	tg *netfilter.Tagger
	sh *Shaper
}

var tables int

func newBed(t testing.TB, root int64) *bed {
	testutil.RequireRoot(t)
	b := &bed{p: nettest.NewPair(t)}
	tables++
	tg, err := netfilter.New(netfilter.Config{Table: fmt.Sprintf("orbistest_%d_%d", os.Getpid(), tables), NetNS: b.p.SendNS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	sh, err := New(b.p.SendDev, root, testutil.Logger(t), InNetNS(b.p.SendNS))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.sh.Close(); err != nil {
			t.Error(err)
		}
	})
	b.tg, b.sh = tg, sh
	return b
}

func (b *bed) add(t testing.TB, sl Sliver) {
	ctx := testutil.Context(t)
	if err := b.tg.Set(ctx, sl); err != nil {
		t.Fatal(err)
	}
	if err := b.sh.Set(ctx, sl); err != nil {
		t.Fatal(err)
	}
}

// flood sends from sl's UID to port as fast as shaping lets it, for d;
// it returns the receiver's counter.
func (b *bed) flood(t testing.TB, sl Sliver, port uint16, d time.Duration) *nettest.Counter {
	c := nettest.Listen(t, b.p, int(port), false)
	nettest.Start(t, b.p, nettest.Send{UID: sl.UIDBase + 1000, To: netip.AddrPortFrom(b.p.RecvIP, port), For: d})
	return c
}

func within(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol*want {
		t.Errorf("%s: %.0f kbit/s, want %.0f ±%.0f%%", what, got, want, tol*100)
	} else {
		t.Logf("%s: %.0f kbit/s (want %.0f)", what, got, want)
	}
}

// TestSplitInProportionToRates: two busy slivers with guarantees 1:3 on a
// saturated 8 Mbit/s cap share it 1:3, and the cap holds for the sum.
func TestSplitInProportionToRates(t *testing.T) {
	b := newBed(t, 8000)
	alice, bob := sliver("alice", 1, 1000, 8000), sliver("bob", 2, 3000, 8000)
	b.add(t, alice)
	b.add(t, bob)
	ca, cb := b.flood(t, alice, 9001, 5*time.Second), b.flood(t, bob, 9002, 5*time.Second)
	r := nettest.Rates(time.Second, 3*time.Second, ca, cb)
	within(t, "alice (rate 1 Mbit/s)", r[0], 2000, 0.05)
	within(t, "bob (rate 3 Mbit/s)", r[1], 6000, 0.05)
	within(t, "sum under the 8 Mbit/s cap", r[0]+r[1], 8000, 0.05)
}

// TestCeilingAndNodeCap: a sliver capped at 1 Mbit/s stays at 1 Mbit/s
// beside an uncapped one, and lowering the node's cap (SetCap) holds the
// sum at it.
func TestCeilingAndNodeCap(t *testing.T) {
	b := newBed(t, 100000)
	capped, free := sliver("capped", 1, 5, 1000), sliver("free", 2, 5, 10000)
	b.add(t, capped)
	b.add(t, free)
	cc, cf := b.flood(t, capped, 9001, 9*time.Second), b.flood(t, free, 9002, 9*time.Second)
	r := nettest.Rates(time.Second, 3*time.Second, cc, cf)
	within(t, "sliver capped at 1 Mbit/s", r[0], 1000, 0.05)
	within(t, "sliver capped at 10 Mbit/s", r[1], 10000, 0.05)
	if err := b.sh.SetCap(testutil.Context(t), 4000); err != nil {
		t.Fatal(err)
	}
	r = nettest.Rates(500*time.Millisecond, 3*time.Second, cc, cf)
	within(t, "sum under a 4 Mbit/s node cap", r[0]+r[1], 4000, 0.05)
}

// TestDailyThresholdSlows: a sliver past its daily byte threshold is slowed
// to what spreads the rest of its allowance over the rest of the (fake)
// day, and gets its ceiling back at midnight.
func TestDailyThresholdSlows(t *testing.T) {
	b := newBed(t, 100000)
	sl := sliver("heavy", 1, 100, 4000)
	// About 1 Mbit/s for the last minute of the day, after 100 KB.
	sl.DailyThreshKB, sl.DailyMaxKB = 100, 100+7500
	b.add(t, sl)
	ctx := testutil.Context(t)
	clock := &fakeClock{now: time.Date(2026, 5, 1, 23, 59, 0, 0, time.UTC)}
	d := NewDailyLimiter(b.sh, b.tg, clock, testutil.Logger(t))
	if err := d.Check(ctx); err != nil { // starts counting
		t.Fatal(err)
	}
	c := b.flood(t, sl, 9001, 11*time.Second)
	before := nettest.Rates(500*time.Millisecond, 2*time.Second, c)[0]
	within(t, "before the threshold", before, 4000, 0.05)
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	ceil := d.capped["heavy"]
	if ceil == 0 || ceil > 2000 {
		t.Fatalf("past the threshold, ceiling %d kbit/s, want about 1000", ceil)
	}
	// A second to drain what was queued at the old rate.
	after := nettest.Rates(time.Second, 2*time.Second, c)[0]
	within(t, "past the threshold", after, float64(ceil), 0.05)
	clock.now = clock.now.Add(time.Minute)
	if err := d.Check(ctx); err != nil {
		t.Fatal(err)
	}
	within(t, "after midnight", nettest.Rates(300*time.Millisecond, 2*time.Second, c)[0], 4000, 0.05)
}

// BenchmarkHTBAccuracy measures what a lone busy sliver capped at 1, 10
// and 100 Mbit/s gets on the wire, as a ratio to its ceiling.
func BenchmarkHTBAccuracy(b *testing.B) {
	for _, kbit := range []int64{1000, 10000, 100000} {
		b.Run(FormatRate(kbit), func(b *testing.B) {
			bd := newBed(b, 1000000)
			sl := sliver("bench", 1, 5, kbit)
			bd.add(b, sl)
			c := bd.flood(b, sl, 9001, 5*time.Second)
			var r float64
			for b.Loop() {
				r = nettest.Rates(time.Second, 3*time.Second, c)[0]
			}
			b.ReportMetric(r/float64(kbit), "measured/configured")
			b.ReportMetric(r, "kbit/s")
		})
	}
}
