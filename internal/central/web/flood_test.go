package web_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// clientFrom is a browser whose connections come from the loopback
// address 127.0.0.n (any 127/8 address is this machine's), so that
// central sees a different client address per n.
func (tc *testCentral) clientFrom(t testing.TB, n int) *client {
	cl := tc.client(t)
	jar, _ := cookiejar.New(nil)
	src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(n/250), byte(2+n%250))}
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	cl.http = &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: tr}
	return cl
}

// TestRegistrationFlood: self-registrations of sites and persons, from
// one address and from many, through the portal. From one address they
// stop at the login throttle; from many, at the bounds of persons
// waiting per site (--max-pending) and of sites waiting for approval
// (the same number): new registrations are refused, nothing waiting or
// existing is dropped. Existing accounts still sign in, and the pages
// that list the waiting stay fast.
func TestRegistrationFlood(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	before := tc.call(t, "GetPersons", map[string]any{}, []any{"email", "enabled"}).([]any)

	siteForm := func(i int) url.Values {
		return url.Values{"site_name": {fmt.Sprintf("Flood %d", i)}, "login_base": {fmt.Sprintf("fl%d", i)}, "first_name": {"F"},
			"last_name": {"L"}, "email": {fmt.Sprintf("pi%d@flood.test", i)}, "password": {testPassword}}
	}
	personForm := func(i int) url.Values {
		return url.Values{"site": {"pt"}, "first_name": {"F"}, "last_name": {"L"}, "email": {fmt.Sprintf("u%d@flood.test", i)}, "password": {testPassword}}
	}
	// flood registers from one address (n fixed) or many, until
	// refused or max tries; it returns how many were accepted and the
	// first refusal.
	flood := func(path string, form func(int) url.Values, from func(int) *client, tries int) (int, string) {
		made := 0
		for i := range tries {
			cl := from(i)
			if st := cl.submit(path, path, form(i)); st == http.StatusOK {
				made++
				continue
			}
			return made, cl.last
		}
		return made, ""
	}
	one := tc.clientFrom(t, 1)
	made, refusal := flood("/register-site", func(i int) url.Values { return siteForm(1000 + i) }, func(int) *client { return one }, 3*plc.DefaultLoginWideBurst)
	if made == 0 || made > plc.DefaultLoginWideBurst || !strings.Contains(refusal, "too many") {
		t.Fatalf("site registrations from one address: %d accepted, want 1 to %d, then refused for too many:\n%s", made, plc.DefaultLoginWideBurst, refusal)
	}
	sitesFromOne := made

	many := func(i int) *client { return tc.clientFrom(t, 10+i) }
	made, refusal = flood("/register-site", siteForm, many, 2*plc.DefaultMaxPending)
	if sitesFromOne+made != plc.DefaultMaxPending || !strings.Contains(refusal, "too many sites are waiting") ||
		!strings.Contains(refusal, `value="Flood`) {
		t.Fatalf("site registrations from many addresses: %d + %d accepted, want %d in all, then refused with the form kept:\n%s",
			sitesFromOne, made, plc.DefaultMaxPending, refusal)
	}
	made, refusal = flood("/register", personForm, func(i int) *client { return tc.clientFrom(t, 300+i) }, 2*plc.DefaultMaxPending)
	if made != plc.DefaultMaxPending || !strings.Contains(refusal, "waiting for its PI") {
		t.Fatalf("person registrations at one site from many addresses: %d accepted, want %d, then refused:\n%s", made, plc.DefaultMaxPending, refusal)
	}
	// A registration at another site still goes through: the bound is
	// per site.
	if st := tc.clientFrom(t, 900).submit("/register", "/register", url.Values{"site": {"ev"}, "first_name": {"F"}, "last_name": {"L"},
		"email": {"late@flood.test"}, "password": {testPassword}}); st != http.StatusOK {
		t.Fatalf("a registration at another site after pt's flood: %d", st)
	}

	// Nothing existing was lost or changed.
	after := tc.call(t, "GetPersons", map[string]any{}, []any{"email", "enabled"}).([]any)
	for _, p := range before {
		if !slices.ContainsFunc(after, func(q any) bool { return fmt.Sprint(q) == fmt.Sprint(p) }) {
			t.Errorf("person %v changed or lost in the flood", p)
		}
	}
	if got := len(after) - len(before); got != 2*plc.DefaultMaxPending+1 {
		t.Errorf("%d persons added by the flood, want %d (every site's PI, pt's waiting, one at ev)", got, 2*plc.DefaultMaxPending+1)
	}
	for _, base := range []string{"pt", "ev"} {
		if s := tc.call(t, "GetSites", base).([]any); len(s) != 1 || s[0].(map[string]any)["enabled"] != true {
			t.Errorf("site %s after the flood: %v", base, s)
		}
	}
	pi := tc.client(t)
	pi.signin(w.pi)
	admin := tc.client(t)
	id := tc.call(t, "AddPerson", map[string]any{"first_name": "A", "last_name": "D", "email": "admin2@orbis.test", "password": testPassword})
	tc.call(t, "UpdatePerson", id, map[string]any{"enabled": true})
	tc.call(t, "AddRoleToPerson", "admin", id)
	admin.signin("admin2@orbis.test")

	// The pages listing the waiting stay fast.
	for _, pg := range []struct {
		cl   *client
		path string
	}{{pi, "/people"}, {admin, "/sites"}, {admin, "/people"}, {tc.client(t), "/register"}} {
		var total time.Duration
		const n = 10
		for range n {
			t0 := time.Now()
			if st := pg.cl.get(pg.path); st != http.StatusOK {
				t.Fatalf("%s: %d", pg.path, st)
			}
			total += time.Since(t0)
		}
		t.Logf("%s after the flood: %v mean", pg.path, total/n)
		if total/n > 200*time.Millisecond {
			t.Errorf("%s after the flood: %v mean, want well under 200 ms", pg.path, total/n)
		}
	}
	if pi.get("/people"); strings.Count(pi.last, "@flood.test") < plc.DefaultMaxPending {
		t.Errorf("the PI does not see the %d waiting", plc.DefaultMaxPending)
	}
}
