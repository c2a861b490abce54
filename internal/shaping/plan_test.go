package shaping

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/netfilter"
	"github.com/orbisproject/orbis/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sliver(name string, index uint32, min, max int64) Sliver {
	return Sliver{Name: name, Index: index, UIDBase: 100000 * index, UIDCount: 65536, MinRate: min, MaxRate: max}
}

// TestClassesGolden checks, without privilege, the classes the Shaper asks
// the kernel for (the root tests then check the kernel holds them): Set,
// SetCap, Throttle and Remove.
func TestClassesGolden(t *testing.T) {
	ctx := testutil.Context(t)
	rec := newRecordingTC()
	s, err := newShaper(rec, 8000, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	step := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		steps = append(steps, "# "+what+"\n"+rec.String())
	}
	step("New 8mbit", nil)
	step("Set alice 1..8mbit", s.Set(ctx, sliver("alice", 1, 1000, 8000)))
	step("Set bob 5kbit..10mbit", s.Set(ctx, sliver("bob", 2, 5, 10000)))
	step("Throttle alice 300kbit", s.Throttle(ctx, "alice", 300))
	step("SetCap 4mbit", s.SetCap(ctx, 4000))
	step("Remove bob", s.Remove(ctx, "bob"))
	got := strings.Join(steps, "\n\n") + "\n"
	const golden = "testdata/classes.golden"
	if *update {
		os.WriteFile(golden, []byte(got), 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("classes differ from %s (rerun with -update to accept):\n%s", golden, got)
	}
}

func TestAdmission(t *testing.T) {
	ctx := testutil.Context(t)
	s, err := newShaper(newRecordingTC(), 8000, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctx, sliver("a", 1, 6000, 8000)); err != nil {
		t.Fatal(err)
	}
	err = s.Set(ctx, sliver("b", 2, 3000, 8000))
	if err == nil || !strings.Contains(err.Error(), "1000 kbit/s over") {
		t.Fatalf("9000 kbit/s of guarantees under an 8000 cap: err = %v, want the 1000 kbit/s shortfall named", err)
	}
	if err := s.Set(ctx, sliver("b", 2, 2000, 8000)); err != nil {
		t.Errorf("guarantees filling the cap exactly: %v", err)
	}
	if err := s.Set(ctx, sliver("a", 1, 6000, 8000)); err != nil {
		t.Errorf("setting a sliver again counted its own guarantee twice: %v", err)
	}
	if err := s.Set(ctx, sliver("c", 2, 5, 10)); err == nil {
		t.Error("a second sliver with index 2 was accepted")
	}
}

func TestParseRate(t *testing.T) {
	good := map[string]int64{"100mbit": 100000, "10mbit": 10000, "500kbit": 500, "1gbit": 1000000, "1.5mbit": 1500, "64000bit": 64, " 8Mbit ": 8000}
	for in, want := range good {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
		if got, _ := ParseRate(FormatRate(want)); got != want {
			t.Errorf("FormatRate(%d) = %q does not read back", want, FormatRate(want))
		}
	}
	for _, in := range []string{"", "100", "100mbps", "-1mbit", "0kbit", "10bit", "fastmbit"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}

func TestCapFile(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadCap(dir); ok || err != nil {
		t.Fatalf("ReadCap with no file = %v, %v", ok, err)
	}
	for _, kbit := range []int64{2500, 7000} {
		if err := WriteCap(dir, kbit); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := ReadCap(dir); got != kbit || !ok || err != nil {
			t.Errorf("ReadCap after WriteCap(%d) = %d, %v, %v", kbit, got, ok, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, CapFile), []byte("fast\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadCap(dir); ok || err == nil {
		t.Errorf("ReadCap of a malformed file = %v, %v; want an error", ok, err)
	}
}

// fakeClock is a Clock the test moves.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// TestDailyLimiter follows PlanetLab's rule with a fake clock and fake
// counters: below the threshold nothing changes; past it the ceiling is
// what is left of the day's allowance over what is left of the day, never
// under the guarantee; midnight UTC restores it.
func TestDailyLimiter(t *testing.T) {
	ctx := testutil.Context(t)
	rec := newRecordingTC()
	s, _ := newShaper(rec, 100000, testutil.Logger(t))
	counters := netfilter.NewFake()
	sl := sliver("alice", 1, 5, 10000)
	// Past the threshold 421875 KB (3.456e9 bits) are left.
	sl.DailyThreshKB, sl.DailyMaxKB = 1000, 1000+421875
	s.Set(ctx, sl)
	counters.Set(ctx, sl)
	clock := &fakeClock{now: time.Date(2026, 5, 1, 21, 0, 0, 0, time.UTC)} // 3 h left
	d := NewDailyLimiter(s, counters, clock, testutil.Logger(t))
	minor := uint16(netfilter.Priority(1))
	check := func(wantCeil int64) {
		t.Helper()
		if err := d.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if got := rec.ceil(minor); got != wantCeil {
			t.Errorf("at %s: ceil %d kbit/s, want %d", clock.now.Format(time.TimeOnly), got, wantCeil)
		}
	}
	check(10000)
	counters.AddTx("alice", 999*1024)
	check(10000) // under the threshold
	counters.AddTx("alice", 1024)
	check(320)                                   // 3.456e9 bits over 3 h
	clock.now = clock.now.Add(150 * time.Minute) // 30 min left, nothing sent
	check(1920)
	counters.AddTx("alice", 2000*1024*1024) // past the maximum
	check(5)                                // the guarantee
	clock.now = time.Date(2026, 5, 2, 0, 0, 1, 0, time.UTC)
	check(10000) // a new day
	counters.AddTx("alice", 500*1024)
	check(10000) // counted from midnight
}
