package peercred

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// LimitLogEvery is how often, at most, a limited listener logs the
// connections it closed.
const LimitLogEvery = 10 * time.Second

// Limited wraps a Unix socket or TCP listener so that no caller holds more
// than Max connections at a time: each accepted connection is counted
// against its peer's key (Key of its credentials; by default its host
// UID), and one past the bound is closed at once, before a byte is read.
// A TCP peer that is no open socket of this host (ErrNoPeer: a remote
// client) counts against its address ("addr:" and the IP, or its /64).
// Total bounds all callers' connections together. Host UID 0 (root) is
// bounded by neither. A connection whose credentials cannot be read
// otherwise is closed too. The connections it hands out carry their credentials, which
// Of returns without asking the kernel again, and their key (KeyOf).
type Limited struct {
	net.Listener
	// Max is the bound per key (0 or less: no bound).
	Max int
	// Total is the bound of all keys' connections together (0 or less:
	// no bound).
	Total int
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
	total   int       // connections open, of every key
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
		cc := &credConn{Conn: c}
		cc.cred, err = Of(c)
		switch {
		case err == nil && cc.cred.UID == 0:
			cc.known = true
			return cc, nil
		case err == nil:
			cc.known, cc.key = true, strconv.FormatUint(uint64(cc.cred.UID), 10)
			if l.Key != nil {
				cc.key = l.Key(cc.cred)
			}
		case errors.Is(err, ErrNoPeer):
			cc.key = "addr:" + addrOf(c.RemoteAddr())
		default:
			l.refuse(c, "", err.Error())
			continue
		}
		if why := l.take(cc.key); why != "" {
			l.refuse(c, cc.key, why)
			continue
		}
		cc.release = func() { l.give(cc.key) }
		return cc, nil
	}
}

// addrOf is a TCP address's IP, or its /64 for IPv6 (Source).
func addrOf(a net.Addr) string {
	p, ok := Source(a)
	switch {
	case !ok:
		return a.String()
	case p.Addr().Is4():
		return p.Addr().String()
	}
	return p.String()
}

// Source is what a remote client's address counts as, so that a bound per
// source means one per host: an IPv4 address (a /32), or an IPv6 /64,
// which one host may hold whole. False if a is no IP address and port.
func Source(a net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32), true
	}
	p, _ := ip.Prefix(64)
	return p, true
}

// Open returns how many connections key holds now.
func (l *Limited) Open(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open[key]
}

// take counts a connection against key, or says why it may not.
func (l *Limited) take(key string) (refused string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open == nil {
		l.open = map[string]int{}
	}
	switch {
	case l.Max > 0 && l.open[key] >= l.Max:
		return "too many connections"
	case l.Total > 0 && l.total >= l.Total:
		return "too many connections of all callers"
	}
	l.open[key]++
	l.total++
	return ""
}

func (l *Limited) give(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
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
			"max_per_caller", l.Max, "max_total", l.Total, "closed_since_last_line", n)
	}
}

// KeyOf returns the key a Limited listener counted c against: "" for
// root's connections and any connection it did not accept.
func KeyOf(c net.Conn) string {
	if cc, ok := c.(*credConn); ok {
		return cc.key
	}
	return ""
}

// credConn is an accepted connection with its peer's credentials (known:
// false for a peer that is no open socket of this host) and key; its slot
// goes back to its caller's bound when it is closed, once.
type credConn struct {
	net.Conn
	cred    Cred
	known   bool
	key     string
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

// SliceKey is a Limited.Key that counts the UIDs of one slice together:
// "slice:" and the slice sliceOf names for the UID, else "uid:" and the
// UID.
func SliceKey(sliceOf func(uid uint32) (string, bool)) func(Cred) string {
	return func(c Cred) string {
		if sliceOf != nil {
			if slice, ok := sliceOf(c.UID); ok {
				return "slice:" + slice
			}
		}
		return "uid:" + strconv.FormatUint(uint64(c.UID), 10)
	}
}
