package sshgw

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/peercred"
)

// admission decides who may hold the gateway's connections and sessions,
// so that no source address and no slice can lock out another:
//
//   - A connection that has not authenticated counts against its source
//     (an IPv4 address, or an IPv6 /64, which one host can fill) and
//     against MaxHandshakes. A source at MaxHandshakesPerSource is
//     refused. When MaxHandshakes are in use, a newcomer from a source
//     holding at least two fewer than the heaviest source takes the
//     heaviest source's oldest slot (that connection is closed), else it
//     is refused: only many distinct sources can fill the pool, and then
//     they share it evenly.
//   - An authenticated connection counts against its slice and MaxConns
//     instead, by the same rules with MaxConnsPerSlice: a slice's users
//     can shut out only that slice.
//   - Sessions count against their slice's MaxSessionsPerSlice (and their
//     connection's MaxSessions).
type admission struct {
	lim Limits
	log *refusalLog

	// mu guards the following.
	mu       sync.Mutex
	bySource map[netip.Prefix][]*client // unauthenticated, oldest first
	shaking  int                        // their number
	bySlice  map[string][]*client       // authenticated, oldest first
	authed   int                        // their number
	sessions map[string]int             // open sessions by slice
}

// client is one connection as admission sees it.
type client struct {
	conn   net.Conn
	source netip.Prefix
	slice  string // once authenticated
	gone   bool   // left, or evicted to make room
	open   int    // its open sessions
}

func newAdmission(lim Limits, log *slog.Logger) *admission {
	return &admission{lim: lim, log: newRefusalLog(log, 5*time.Second),
		bySource: map[netip.Prefix][]*client{}, bySlice: map[string][]*client{}, sessions: map[string]int{}}
}

// sourceOf is the source a connection counts against.
func sourceOf(c net.Conn) netip.Prefix {
	p, _ := peercred.Source(c.RemoteAddr())
	return p
}

// arrive admits a new connection, unauthenticated, or says why not.
func (a *admission) arrive(c net.Conn) (*client, error) {
	cl := &client{conn: c, source: sourceOf(c)}
	a.mu.Lock()
	defer a.mu.Unlock()
	mine := len(a.bySource[cl.source])
	if mine >= a.lim.MaxHandshakesPerSource {
		return nil, a.refuse("source", cl.source.String(), "too many connections from your address are logging in (at most %d at once)", a.lim.MaxHandshakesPerSource)
	}
	if a.shaking >= a.lim.MaxHandshakes && !evictHeaviest(a.bySource, mine, &a.shaking, a.log, "unauthenticated") {
		return nil, a.refuse("handshakes", cl.source.String(), "the SSH gateway is busy with %d logins, and no address has many more than yours; try again later", a.shaking)
	}
	a.bySource[cl.source] = append(a.bySource[cl.source], cl)
	a.shaking++
	return cl, nil
}

// login moves cl, which authenticated for slice, from its source's count
// to its slice's, or says why it may not log in.
func (a *admission) login(cl *client, slice string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cl.gone {
		return errors.New("orbis: the gateway closed this connection to make room for others; try again")
	}
	mine := len(a.bySlice[slice])
	if mine >= a.lim.MaxConnsPerSlice {
		return a.refuse("slice", slice, "slice %s has %d connections to this node already, its most", slice, mine)
	}
	if a.authed >= a.lim.MaxConns && !evictHeaviest(a.bySlice, mine, &a.authed, a.log, "authenticated") {
		return a.refuse("conns", slice, "the SSH gateway holds its most connections (%d), and no slice has many more than %s; try again later", a.authed, slice)
	}
	a.dropLocked(cl)
	cl.gone = false
	cl.slice = slice
	a.bySlice[slice] = append(a.bySlice[slice], cl)
	a.authed++
	return nil
}

// leave forgets cl, wherever it counts.
func (a *admission) leave(cl *client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropLocked(cl)
}

// dropLocked removes cl from the count it is in, if any.
func (a *admission) dropLocked(cl *client) {
	if cl.gone {
		return
	}
	cl.gone = true
	if cl.slice != "" {
		remove(a.bySlice, cl.slice, cl)
		a.authed--
		return
	}
	remove(a.bySource, cl.source, cl)
	a.shaking--
}

// remove takes cl out of m[k], and the key out of m once it holds none,
// so that the maps hold only who is connected.
func remove[K comparable](m map[K][]*client, k K, cl *client) {
	var out []*client
	for _, o := range m[k] {
		if o != cl {
			out = append(out, o)
		}
	}
	if len(out) == 0 {
		delete(m, k)
		return
	}
	m[k] = out
}

// evictHeaviest closes the oldest connection without a session (else the
// oldest) of the key holding the most in m, if it holds at least two more
// than mine (the newcomer's key), so that the eviction leaves the shares
// no less even; it reports whether it made room.
func evictHeaviest[K comparable](m map[K][]*client, mine int, n *int, log *refusalLog, what string) bool {
	var heavy K
	most := 0
	for k, cs := range m {
		if len(cs) > most {
			heavy, most = k, len(cs)
		}
	}
	if most < mine+2 {
		return false
	}
	victim := m[heavy][0]
	for _, cl := range m[heavy] {
		if cl.open == 0 {
			victim = cl
			break
		}
	}
	remove(m, heavy, victim)
	*n--
	victim.gone = true
	victim.conn.Close()
	log.refused("evicted", "ssh gateway full: closed the oldest "+what+" connection of the heaviest holder",
		"holder", fmt.Sprint(heavy), "held", most, "remote", victim.conn.RemoteAddr().String())
	return true
}

// refuse logs a refusal (rate limited) and returns the client's message.
func (a *admission) refuse(kind, who, format string, args ...any) error {
	err := fmt.Errorf("orbis: "+format, args...)
	a.log.refused(kind, "ssh gateway: refused", "who", who, "reason", err.Error())
	return err
}

// openSession counts a new session of cl's slice, or says why it may not
// open.
func (a *admission) openSession(cl *client) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.sessions[cl.slice]; n >= a.lim.MaxSessionsPerSlice {
		return a.refuse("sessions", cl.slice, "slice %s has %d sessions open on this node, its most", cl.slice, n)
	}
	a.sessions[cl.slice]++
	cl.open++
	return nil
}

// closeSession counts a session of cl fewer.
func (a *admission) closeSession(cl *client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cl.open--
	if a.sessions[cl.slice]--; a.sessions[cl.slice] <= 0 {
		delete(a.sessions, cl.slice)
	}
}

// refusalLog logs at most one record of each kind per interval, and
// counts the records it held back in the next one, so that a flood of
// refusals cannot flood the log.
type refusalLog struct {
	log   *slog.Logger
	every time.Duration

	// mu guards the following.
	mu   sync.Mutex
	last map[string]time.Time // by kind: a handful of fixed strings
	held map[string]int
}

func newRefusalLog(log *slog.Logger, every time.Duration) *refusalLog {
	return &refusalLog{log: log, every: every, last: map[string]time.Time{}, held: map[string]int{}}
}

func (r *refusalLog) refused(kind, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last[kind]) < r.every {
		r.held[kind]++
		r.mu.Unlock()
		return
	}
	r.last[kind] = now
	held := r.held[kind]
	r.held[kind] = 0
	r.mu.Unlock()
	r.log.Warn(msg, append(args, "kind", kind, "not_logged_before", held)...)
}
