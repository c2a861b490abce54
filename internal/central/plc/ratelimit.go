package plc

import (
	"math"
	"sync"
	"time"
)

// Failed logins are limited per username and per client address by token
// buckets: each holds loginBurst attempts and regains one every
// loginRefill. An attempt takes a token from both buckets before the
// password is checked (so that parallel guesses are counted too); a
// success gives them back and refills the username's bucket. With no
// token left the answer is fault 103 "too many failed attempts, retry in
// N s", without checking the password.
const (
	loginBurst  = 5
	loginRefill = 10 * time.Second
	// limiterMax bounds the buckets kept; full buckets are dropped first.
	limiterMax = 100000
)

type limiter struct {
	burst float64
	every time.Duration

	// mu guards the following.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// refillLocked brings b's tokens up to now.
func (l *limiter) refillLocked(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(l.burst, b.tokens+float64(d)/float64(l.every))
	}
	b.last = now
}

// take takes a token from every key's bucket, or from none: when one is
// empty it returns how long until it has a token again.
func (l *limiter) take(now time.Time, keys ...string) (retry time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pruneLocked(now)
	bs := make([]*bucket, 0, len(keys))
	for _, k := range keys {
		b := l.buckets[k]
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[k] = b
		}
		l.refillLocked(b, now)
		if b.tokens < 1 {
			retry = max(retry, time.Duration((1-b.tokens)*float64(l.every)))
		}
		bs = append(bs, b)
	}
	if retry > 0 {
		return retry, false
	}
	for _, b := range bs {
		b.tokens--
	}
	return 0, true
}

// give puts back a token taken from each key's bucket.
func (l *limiter) give(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if b := l.buckets[k]; b != nil {
			b.tokens = math.Min(l.burst, b.tokens+1)
		}
	}
}

// reset refills a key's bucket.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.buckets, key)
}

// pruneLocked drops full buckets when there are too many.
func (l *limiter) pruneLocked(now time.Time) {
	if len(l.buckets) < limiterMax {
		return
	}
	for k, b := range l.buckets {
		l.refillLocked(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
