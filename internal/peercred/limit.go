package peercred

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// LimitLogEvery is how often, at most, a limited listener logs the
// connections it closed.
const LimitLogEvery = 10 * time.Second

// Limited wraps a Unix socket listener so that no caller holds more than
// Max connections at a time: each accepted connection is counted against
// its peer's key (Key of its credentials; by default its host UID), and
// one past the bound is closed at once, before a byte is read. Host UID 0
// (root) is never limited. A connection whose credentials cannot be read
// is closed too. The connections it hands out carry their credentials,
// which Of returns without asking the kernel again.
type Limited struct {
	net.Listener
	// Max is the bound per key (0 or less: no bound).
	Max int
	// Key names whom a connection counts against (nil: its host UID), so
	// that, say, the UIDs of one slice share one bound.
	Key func(Cred) string
	// Log receives a line for the connections closed, at most one every
	// LimitLogEvery, with how many were closed since the last.
	Log *slog.Logger
	// Refuse, if set, is called with each connection about to be closed
	// for its caller's key (or "" when its credentials could not be
	// read) and why, so that a service may tell the caller.
	Refuse func(c net.Conn, key, why string)

	// mu guards the following.
	mu      sync.Mutex
	open    map[string]int
	closed  int       // connections closed since the last log line
	lastLog time.Time // when the last log line was written
}

// Accept returns the next connection within its caller's bound, closing
// those beyond it.
func (l *Limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := Of(c)
		if err != nil {
			l.refuse(c, "", err.Error())
			continue
		}
		if cred.UID == 0 || l.Max <= 0 {
			return &credConn{Conn: c, cred: cred}, nil
		}
		key := strconv.FormatUint(uint64(cred.UID), 10)
		if l.Key != nil {
			key = l.Key(cred)
		}
		if !l.take(key) {
			l.refuse(c, key, "too many connections")
			continue
		}
		return &credConn{Conn: c, cred: cred, release: func() { l.give(key) }}, nil
	}
}

// Open returns how many connections key holds now.
func (l *Limited) Open(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

func (l *Limited) take(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]int{}
	}
	if l.open[key] >= l.Max {
		return false
	}
	l.open[key]++
	return true
}

func (l *Limited) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// refuse closes c and logs it, at most once every LimitLogEvery.
func (l *Limited) refuse(c net.Conn, key, why string) {
	if l.Refuse != nil {
		l.Refuse(c, key, why)
	}
	c.Close()
	l.mu.Lock()
	l.closed++
	now := time.Now()
	if now.Sub(l.lastLog) < LimitLogEvery {
		l.mu.Unlock()
		return
	}
	n := l.closed
	l.closed, l.lastLog = 0, now
	l.mu.Unlock()
	if l.Log != nil {
		l.Log.Warn("connection closed at accept", "socket", l.Addr().String(), "caller", key, "why", why,
			"max_per_caller", l.Max, "closed_since_last_line", n)
	}
}

// credConn is an accepted connection with its peer's credentials; its
// slot goes back to its caller's bound when it is closed, once.
type credConn struct {
	net.Conn
	cred    Cred
	once    sync.Once
	release func()
}

func (c *credConn) Close() error {
	err := c.Conn.Close()
	if c.release != nil {
		c.once.Do(c.release)
	}
	return err
}
