package plc

import (
	"container/list"
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Failed password logins are throttled by token buckets, each holding a
// burst of failures and regaining one every LoginLimits.Refill:
//
//   - pair: one source and one account (Burst): one guesser of one account;
//   - source: one source over every account (WideBurst): a guesser trying
//     many accounts from one place;
//   - account: one account over every source (WideBurst): a distributed
//     guess. It refuses no one: while it is empty, a failure costs its
//     pair the whole burst, so that each guessing source gets about one
//     guess every Burst×Refill.
//
// A login is refused before its password is checked only when its pair or
// its source bucket is empty: a correct password is refused only after
// wrong ones from the same source, never because someone elsewhere
// guessed. Only failures take tokens, so logins in flight hold none; a
// success refills its pair. The uncached checks of one source run one at
// a time (sourceGates), so parallel guesses are counted exactly. A source
// is a client address, IPv6 by its /64 (sourceOf). Every table is an LRU
// of at most MaxTracked buckets; a bucket that refilled is dropped.

// LoginLimits are the login throttle's settings.
type LoginLimits struct {
	// Burst is how many failures one source may make for one account
	// before it must wait (default 5).
	Burst int
	// WideBurst is how many failures one source may make over every
	// account, and how many an account may take from every source before
	// each source's failures cost Burst (default 20).
	WideBurst int
	// Refill is how often a bucket regains one failure (default 10 s).
	Refill time.Duration
	// MaxTracked bounds the buckets kept of each kind (default 100000).
	MaxTracked int
}

// Defaults of LoginLimits.
const (
	DefaultLoginBurst     = 5
	DefaultLoginWideBurst = 20
	DefaultLoginRefill    = 10 * time.Second
	DefaultLoginTracked   = 100000
)

func (l LoginLimits) withDefaults() LoginLimits {
	if l.Burst <= 0 {
		l.Burst = DefaultLoginBurst
	}
	if l.WideBurst <= 0 {
		l.WideBurst = DefaultLoginWideBurst
	}
	if l.Refill <= 0 {
		l.Refill = DefaultLoginRefill
	}
	if l.MaxTracked <= 0 {
		l.MaxTracked = DefaultLoginTracked
	}
	return l
}

// The kinds of bucket.
const (
	pairBucket = iota
	sourceBucket
	accountBucket
	bucketKinds
)

type limiter struct {
	limits LoginLimits

	// mu guards the following.
	mu     sync.Mutex
	tables [bucketKinds]bucketTable
}

func newLimiter(l LoginLimits) *limiter {
	lim := &limiter{limits: l.withDefaults()}
	for i := range lim.tables {
		lim.tables[i] = bucketTable{byKey: map[string]*list.Element{}, order: list.New()}
	}
	return lim
}

// bucketTable is an LRU of buckets, the most recently charged first.
type bucketTable struct {
	byKey map[string]*list.Element
	order *list.List // of *bucket
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

func (l *limiter) burst(kind int) float64 {
	if kind == pairBucket {
		return float64(l.limits.Burst)
	}
	return float64(l.limits.WideBurst)
}

// tokensLocked returns a bucket's tokens at now, dropping it once full.
func (l *limiter) tokensLocked(kind int, key string, now time.Time) float64 {
	t := &l.tables[kind]
	e := t.byKey[key]
	if e == nil {
		return l.burst(kind)
	}
	b := e.Value.(*bucket)
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(l.burst(kind), b.tokens+float64(d)/float64(l.limits.Refill))
		b.last = now
	}
	if b.tokens >= l.burst(kind) {
		delete(t.byKey, key)
		t.order.Remove(e)
	}
	return b.tokens
}

// chargeLocked takes n tokens from a bucket (down to -burst), making it
// if needed and evicting the least recently charged past MaxTracked.
func (l *limiter) chargeLocked(kind int, key string, now time.Time, n float64) {
	tokens := l.tokensLocked(kind, key, now) - n
	tokens = math.Max(tokens, -l.burst(kind))
	t := &l.tables[kind]
	if e := t.byKey[key]; e != nil {
		e.Value.(*bucket).tokens = tokens
		t.order.MoveToFront(e)
		return
	}
	t.byKey[key] = t.order.PushFront(&bucket{key: key, tokens: tokens, last: now})
	for len(t.byKey) > l.limits.MaxTracked {
		old := t.order.Back()
		delete(t.byKey, old.Value.(*bucket).key)
		t.order.Remove(old)
	}
}

// retry is how long until a bucket with tokens has one again.
func (l *limiter) retry(tokens float64) time.Duration {
	return time.Duration((1 - tokens) * float64(l.limits.Refill))
}

// allow refuses a login from source for account when the pair or the
// source has no failure left, saying which.
func (l *limiter) allow(source, account string, now time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.tokensLocked(sourceBucket, source, now); t < 1 {
		return Faultf(FaultAuth, "too many failed logins from your address (%s), for any account: retry in %d s", source, seconds(l.retry(t)))
	}
	if t := l.tokensLocked(pairBucket, pairKey(source, account), now); t < 1 {
		return Faultf(FaultAuth, "too many failed logins as %s from your address (%s): retry in %d s", account, source, seconds(l.retry(t)))
	}
	return nil
}

// fail charges a failed login: one token from the source and the account,
// and from the pair one, or its whole burst while the account is empty.
func (l *limiter) fail(source, account string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cost := 1.0
	if l.tokensLocked(accountBucket, account, now) < 1 {
		cost = l.burst(pairBucket)
	}
	l.chargeLocked(pairBucket, pairKey(source, account), now, cost)
	l.chargeLocked(sourceBucket, source, now, 1)
	l.chargeLocked(accountBucket, account, now, 1)
}

// succeed forgets the pair's failures.
func (l *limiter) succeed(source, account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.tables[pairBucket]
	if e := t.byKey[pairKey(source, account)]; e != nil {
		delete(t.byKey, e.Value.(*bucket).key)
		t.order.Remove(e)
	}
}

// tracked returns how many buckets of each kind are kept.
func (l *limiter) tracked() [bucketKinds]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var n [bucketKinds]int
	for i := range l.tables {
		n[i] = len(l.tables[i].byKey)
	}
	return n
}

// accountOf is the account a login names, as the throttle keys it: the
// email in lower case, or, if longer than any email, its SHA-256 (so
// that a 4 MiB username does not take 4 MiB of each table).
func accountOf(email string) string {
	if len(email) > maxEmailLen {
		return "sha256:" + sha256Hex(email)
	}
	return strings.ToLower(email)
}

func pairKey(source, account string) string { return source + "\x00" + account }

func seconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// sourceOf is the source a client address counts as: an IPv4 address, or
// the /64 of an IPv6 one (a host usually holds a whole /64, so its
// addresses are one source). A missing address (a call from within
// central) is "local".
func sourceOf(addr string) string {
	ip, err := netip.ParseAddr(addr)
	switch {
	case addr == "":
		return "local"
	case err != nil:
		return addr
	case ip.Unmap().Is4():
		return ip.Unmap().String()
	}
	p, _ := ip.WithZone("").Prefix(64) // an IPv6 address always has a /64
	return p.String()
}

// sourceGates run the uncached password checks of one source one at a
// time. Sources share gates by hash (a fixed number, whatever the number
// of sources): a gate is held for one password check at most.
type sourceGates [256]chan struct{}

func newSourceGates() *sourceGates {
	var g sourceGates
	for i := range g {
		g[i] = make(chan struct{}, 1)
	}
	return &g
}

// enter waits for source's gate, or for ctx; the caller must call the
// returned release.
func (g *sourceGates) enter(ctx context.Context, source string) (release func(), err error) {
	h := fnv.New32a()
	h.Write([]byte(source))
	gate := g[h.Sum32()%uint32(len(g))]
	select {
	case gate <- struct{}{}:
		return func() { <-gate }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for the password check: %w", ctx.Err())
	}
}
