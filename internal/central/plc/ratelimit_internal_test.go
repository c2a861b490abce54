package plc

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestLimiterBounded: an attacker with more addresses and account names
// than MaxTracked cannot grow the throttle's memory past it, and the
// account it keeps guessing at stays tracked.
func TestLimiterBounded(t *testing.T) {
	const max = 1000
	l := newLimiter(LoginLimits{MaxTracked: max})
	now := time.Unix(0, 0)
	for i := range 50 * max {
		l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), fmt.Sprintf("u%d@x.org", i), now)
		l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), "victim@x.org", now)
	}
	for kind, n := range l.tracked() {
		if n > max {
			t.Errorf("kind %d: %d buckets, want at most %d", kind, n, max)
		}
	}
	l.mu.Lock()
	tokens := l.tokensLocked(accountBucket, "victim@x.org", now)
	l.mu.Unlock()
	if tokens >= 1 {
		t.Errorf("the guessed account was forgotten (tokens %v)", tokens)
	}
}

// TestLimiterMemory measures the throttle at its bound: every table full.
func TestLimiterMemory(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := newLimiter(LoginLimits{})
	now := time.Unix(0, 0)
	for i := range DefaultLoginTracked {
		l.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255), fmt.Sprintf("u%d@x.org", i), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	mib := float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
	t.Logf("%v buckets tracked: %.1f MiB", l.tracked(), mib)
	if mib > 200 {
		t.Errorf("the full throttle takes %.0f MiB", mib)
	}
	runtime.KeepAlive(l)
}

func TestSourceOf(t *testing.T) {
	for addr, want := range map[string]string{
		"":                   "local",
		"192.0.2.7":          "192.0.2.7",
		"::ffff:192.0.2.7":   "192.0.2.7",
		"2001:db8:1:2::1":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ff::9": "2001:db8:1:2::/64",
		"fe80::1%eth0":       "fe80::/64",
		"not-an-address":     "not-an-address",
	} {
		if got := sourceOf(addr); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestAccountOf(t *testing.T) {
	if got := accountOf("Ada@Example.ORG"); got != "ada@example.org" {
		t.Errorf("accountOf folds case: %q", got)
	}
	long := accountOf(strings.Repeat("a", 4<<20) + "@x")
	if len(long) > 80 || long == accountOf(strings.Repeat("b", 4<<20)+"@x") {
		t.Errorf("a 4 MiB username is kept as %d bytes", len(long))
	}
}
