package sshgw

import (
	"net"
	"net/netip"
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// addrConn is a connection from a given address that records its close.
type addrConn struct {
	net.Conn
	from   string
	closed bool
}

func (c *addrConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(mustAddrPort(c.from)) }
func (c *addrConn) Close() error         { c.closed = true; return nil }

// arrive admits a connection from addr, or fails the test.
func arrive(t *testing.T, a *admission, addr string) (*client, *addrConn) {
	t.Helper()
	c := &addrConn{from: addr}
	cl, err := a.arrive(c)
	if err != nil {
		t.Fatalf("arrive from %s: %v", addr, err)
	}
	return cl, c
}

// TestAdmissionSources checks the unauthenticated pool: a source's cap,
// an IPv6 /64 counted as one source, eviction of the heaviest source's
// oldest only when it holds two more than the newcomer's, and nothing
// kept of who left.
func TestAdmissionSources(t *testing.T) {
	a := newAdmission(Limits{MaxHandshakes: 5, MaxHandshakesPerSource: 3}, testutil.Logger(t))
	first, firstConn := arrive(t, a, "192.0.2.1:1000")
	arrive(t, a, "192.0.2.1:1001")
	arrive(t, a, "192.0.2.1:1002")
	if _, err := a.arrive(&addrConn{from: "192.0.2.1:1003"}); err == nil {
		t.Error("a fourth connection from a source capped at 3")
	}
	arrive(t, a, "[2001:db8::1]:1000")
	arrive(t, a, "[2001:db8::1]:1001")
	if _, err := a.arrive(&addrConn{from: "[2001:db8::2]:1000"}); err == nil {
		t.Error("2001:db8::2 (2 held in its /64, 3 by the heaviest) took a slot of a full pool")
	}
	_, newConn := arrive(t, a, "198.51.100.1:1000") // 0 held, the heaviest 3: evicts
	if !firstConn.closed || newConn.closed {
		t.Errorf("evicted: the oldest of the heaviest %v, the newcomer %v", firstConn.closed, newConn.closed)
	}
	if err := a.login(first, "pl_a"); err == nil {
		t.Error("an evicted connection logged in")
	}
	a.mu.Lock()
	clients := append(append([]*client{}, a.bySource[sourceOf(&addrConn{from: "192.0.2.1:1"})]...), a.bySource[sourceOf(newConn)]...)
	clients = append(clients, a.bySource[sourceOf(&addrConn{from: "[2001:db8::1]:1"})]...)
	a.mu.Unlock()
	for _, cl := range clients {
		a.leave(cl)
	}
	if len(a.bySource) != 0 || a.shaking != 0 {
		t.Errorf("after every client left: %d sources, %d counted", len(a.bySource), a.shaking)
	}
}

// TestAdmissionSlices checks the authenticated pool: a slice's cap, and an
// eviction that spares the heaviest slice's connections with sessions.
func TestAdmissionSlices(t *testing.T) {
	a := newAdmission(Limits{MaxHandshakes: 10, MaxHandshakesPerSource: 10, MaxConns: 3, MaxConnsPerSlice: 3, MaxSessionsPerSlice: 1}, testutil.Logger(t))
	var conns []*addrConn
	var clients []*client
	for i := range 4 {
		cl, c := arrive(t, a, "192.0.2.1:1000")
		if err := a.login(cl, "pl_a"); (err == nil) != (i < 3) {
			t.Fatalf("login %d of pl_a: %v", i, err)
		}
		conns, clients = append(conns, c), append(clients, cl)
	}
	if err := a.openSession(clients[0]); err != nil {
		t.Fatal(err)
	}
	if err := a.openSession(clients[1]); err == nil {
		t.Error("a second session of a slice capped at 1")
	}
	b, _ := arrive(t, a, "192.0.2.2:1000")
	if err := a.login(b, "pl_b"); err != nil {
		t.Fatalf("pl_b's login into a pool full of pl_a's: %v", err)
	}
	if conns[0].closed || !conns[1].closed {
		t.Errorf("evicted: pl_a's oldest (with a session) %v, its oldest idle %v", conns[0].closed, conns[1].closed)
	}
	a.closeSession(clients[0])
	for _, cl := range append(clients, b) {
		a.leave(cl)
	}
	if len(a.bySlice) != 0 || len(a.bySource) != 0 || len(a.sessions) != 0 || a.authed != 0 || a.shaking != 0 {
		t.Errorf("after every client left: %d slices, %d sources, %d with sessions, counts %d %d",
			len(a.bySlice), len(a.bySource), len(a.sessions), a.authed, a.shaking)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
