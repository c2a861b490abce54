package plc_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// The login throttle under attack, over the wire. newWorld's persons
// logged in at t0; each test first moves the clock past the cache of
// verified passwords, so that the owners' logins here check their
// passwords for real.

func freshWire(t *testing.T) (*world, *wire) {
	w := newWorld(t)
	w.advance(10 * time.Minute)
	return w, w.serveWire(nil)
}

// guessed reports whether a wrong-password answer is a checked guess
// (true) or a throttle refusal (false), failing on anything else.
func guessed(t *testing.T, err error) (checked bool, msg string) {
	t.Helper()
	f := wireFault(t, err, plc.FaultAuth, 0)
	switch {
	case strings.Contains(f.Msg, "too many failed logins"):
		return false, f.Msg
	case strings.Contains(f.Msg, "unknown username or wrong password"):
		return true, f.Msg
	}
	t.Fatalf("unexpected answer to a guess: %q", f.Msg)
	return false, ""
}

// TestLockoutAttack: a guesser far past every burst, then once every
// refill, on an admin and a user, through PLCAPI and the JSON API, never
// keeps them out from their own addresses; the guesser gets Burst
// guesses checked per account, then one per refill.
func TestLockoutAttack(t *testing.T) {
	w, wire := freshWire(t)
	attacker := wire.from("127.0.0.66")
	owner := wire.from("127.0.0.7")
	pws := map[string]string{"admin@example.org": "admin-password", "user@alpha.org": "password-user@alpha.org"}
	checked := map[string]int{}
	guess := func(victim string, i int) {
		var err error
		if i%2 == 0 {
			err = attacker.pwCheck(victim, fmt.Sprintf("guess-%d", i))
		} else {
			_, err = attacker.login(victim, fmt.Sprintf("guess-%d", i))
		}
		ok, msg := guessed(t, err)
		if ok {
			checked[victim]++
		} else if !strings.Contains(msg, "from your address (127.0.0.66)") {
			t.Fatalf("refusal does not name the guessing address: %q", msg)
		}
	}
	ownersLogIn := func(when string) {
		t.Helper()
		for user, pw := range pws {
			if err := owner.pwCheck(user, pw); err != nil {
				t.Fatalf("%s: %s's own PLCAPI login refused: %v", when, user, err)
			}
			token, err := owner.login(user, pw)
			if err != nil {
				t.Fatalf("%s: %s's own /api/v1/login refused: %v", when, user, err)
			}
			if _, err := owner.call(token, "GetPersons"); err != nil {
				t.Fatalf("%s: %s's token: %v", when, user, err)
			}
		}
	}
	for victim := range pws {
		for i := range 30 {
			guess(victim, i)
		}
		if checked[victim] != plc.DefaultLoginBurst {
			t.Fatalf("%d of 30 guesses at %s were checked, want %d", checked[victim], victim, plc.DefaultLoginBurst)
		}
	}
	ownersLogIn("after 30 guesses each")
	// The guesser's own correct password is refused: its address guessed.
	_, msg := guessed(t, attacker.pwCheck("admin@example.org", "admin-password"))
	if !strings.Contains(msg, "as admin@example.org from your address") {
		t.Fatalf("refusal at the guesser: %q", msg)
	}
	for round := range 12 {
		w.advance(plc.DefaultLoginRefill)
		for victim := range pws {
			guess(victim, round)
		}
		ownersLogIn(fmt.Sprintf("guessing every refill, round %d", round))
	}
	for victim, n := range checked {
		if n > plc.DefaultLoginBurst+12 {
			t.Errorf("%d guesses at %s checked, want at most %d", n, victim, plc.DefaultLoginBurst+12)
		}
	}
}

// TestDistributedGuessing: guesses at one account from many addresses are
// cut to one per address once the account took WideBurst failures, and
// its owner, from yet another address, logs in at once.
func TestDistributedGuessing(t *testing.T) {
	_, wire := freshWire(t)
	const sources, each = 30, 5
	checked := 0
	for i := range sources {
		c := wire.from(fmt.Sprintf("127.0.1.%d", i+1))
		for j := range each {
			var err error
			if j%2 == 0 {
				err = c.pwCheck("PI@alpha.org", fmt.Sprintf("guess-%d-%d", i, j))
			} else {
				_, err = c.login("pi@alpha.org", fmt.Sprintf("guess-%d-%d", i, j))
			}
			if ok, _ := guessed(t, err); ok {
				checked++
			}
		}
	}
	full := plc.DefaultLoginWideBurst / plc.DefaultLoginBurst // sources before the account is empty
	if want := plc.DefaultLoginWideBurst + sources - full; checked != want {
		t.Fatalf("%d of %d guesses checked, want %d", checked, sources*each, want)
	}
	owner := wire.from("127.0.2.1")
	if _, err := owner.login("pi@alpha.org", "password-pi@alpha.org"); err != nil {
		t.Fatalf("the owner is kept out by others' guesses: %v", err)
	}
	if err := owner.pwCheck("pi@alpha.org", "password-pi@alpha.org"); err != nil {
		t.Fatalf("the owner is kept out by others' guesses (PLCAPI): %v", err)
	}
}

// TestSprayingOneSource: one address guessing at many accounts is refused
// for every account after WideBurst failures; other addresses are not.
func TestSprayingOneSource(t *testing.T) {
	_, wire := freshWire(t)
	sprayer := wire.from("127.0.0.80")
	checked := 0
	var last string
	for i := range 40 {
		ok, msg := guessed(t, sprayer.pwCheck(fmt.Sprintf("person%d@alpha.org", i), "guess"))
		if ok {
			checked++
		}
		last = msg
	}
	if checked != plc.DefaultLoginWideBurst || !strings.Contains(last, "from your address (127.0.0.80), for any account") {
		t.Fatalf("%d of 40 sprayed guesses checked (want %d), last answer %q", checked, plc.DefaultLoginWideBurst, last)
	}
	if err := wire.from("127.0.0.81").pwCheck("user@alpha.org", "password-user@alpha.org"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

// TestConcurrentCorrectLogins: password calls at once from one person and
// address, through both APIs and just after a few typos, are all let in;
// guesses at once are counted exactly.
func TestConcurrentCorrectLogins(t *testing.T) {
	_, wire := freshWire(t)
	c := wire.from("127.0.0.9")
	for range plc.DefaultLoginBurst - 1 {
		guessed(t, c.pwCheck("user@beta.org", "typo"))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []string
	for i := range 60 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = c.pwCheck("user@beta.org", "password-user@beta.org")
			} else {
				_, err = c.login("user@beta.org", "password-user@beta.org")
			}
			if err != nil {
				mu.Lock()
				refused = append(refused, err.Error())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(refused) > 0 {
		t.Fatalf("%d of 60 concurrent correct logins refused: %v", len(refused), refused[0])
	}
	g := wire.from("127.0.0.10")
	var checked atomic.Int32
	for i := range 20 {
		wg.Go(func() {
			if ok, _ := guessed(t, g.pwCheck("user@beta.org", fmt.Sprintf("guess-%d", i))); ok {
				checked.Add(1)
			}
		})
	}
	wg.Wait()
	if checked.Load() != plc.DefaultLoginBurst {
		t.Fatalf("%d of 20 parallel guesses checked, want %d", checked.Load(), plc.DefaultLoginBurst)
	}
}

// TestForwardedFor: a guesser writing a new X-Forwarded-For for every
// guess stays one source; only a trusted proxy's header is believed.
func TestForwardedFor(t *testing.T) {
	w, direct := freshWire(t)
	c := direct.from("127.0.0.20")
	var msg string
	for i := range 10 {
		c.header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
		_, msg = guessed(t, c.pwCheck("user@alpha.org", "guess"))
	}
	if !strings.Contains(msg, "too many failed logins as user@alpha.org from your address (127.0.0.20)") {
		t.Fatalf("forged X-Forwarded-For chose the source: %q", msg)
	}
	proxied := w.serveWire(plc.TrustedProxies{netip.MustParsePrefix("127.0.0.21/32")})
	p := proxied.from("127.0.0.21")
	p.header.Set("X-Forwarded-For", "192.0.2.99, 203.0.113.5")
	for range plc.DefaultLoginBurst + 1 {
		_, msg = guessed(t, p.pwCheck("user@beta.org", "guess"))
	}
	if !strings.Contains(msg, "(203.0.113.5)") {
		t.Fatalf("behind the proxy: %q, want the address the proxy saw", msg)
	}
	p.header.Set("X-Forwarded-For", "203.0.113.6")
	if ok, msg := guessed(t, p.pwCheck("user@beta.org", "guess")); !ok {
		t.Fatalf("another client behind the proxy: %q", msg)
	}
}

func TestRequestAddr(t *testing.T) {
	tp, err := plc.ParseTrustedProxies("10.0.0.1, 192.168.0.0/16,::1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := plc.ParseTrustedProxies("10.0.0.1,nonsense"); err == nil {
		t.Fatal("a bad proxy was accepted")
	}
	for _, tc := range []struct{ peer, xff, want string }{
		{"203.0.113.1:5", "", "203.0.113.1"},
		{"203.0.113.1:5", "1.2.3.4", "203.0.113.1"},       // not a proxy: header ignored
		{"10.0.0.1:5", "1.2.3.4", "1.2.3.4"},              // a proxy
		{"10.0.0.1:5", "6.6.6.6, 1.2.3.4", "1.2.3.4"},     // the left part is the client's to write
		{"10.0.0.1:5", "1.2.3.4, 192.168.3.3", "1.2.3.4"}, // two proxies
		{"10.0.0.1:5", "junk, 192.168.3.3", "192.168.3.3"},
		{"10.0.0.1:5", "", "10.0.0.1"},
		{"[::1]:5", "2001:db8::7", "2001:db8::7"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/PLCAPI/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := tp.RequestAddr(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}
