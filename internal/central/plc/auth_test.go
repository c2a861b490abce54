package plc_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
)

func pwAuth(user, pw string) map[string]any {
	return map[string]any{"AuthMethod": "password", "Username": user, "AuthString": pw}
}

func TestPasswordAuth(t *testing.T) {
	w := newWorld(t)
	c, err := w.svc.Authenticate(w.ctx, pwAuth("USER@alpha.org", "password-user@alpha.org"), "GetSlices", nil)
	if err != nil || c.PersonID != w.userA.PersonID || len(c.SiteIDs) != 1 || !c.Has(30) {
		t.Fatalf("login: %+v %v", c, err)
	}
	wrong := fault(t, second(w.svc.Authenticate(w.ctx, pwAuth("user@alpha.org", "nope"), "GetSlices", nil)), plc.FaultAuth)
	unknown := fault(t, second(w.svc.Authenticate(w.ctx, pwAuth("nobody@alpha.org", "nope"), "GetSlices", nil)), plc.FaultAuth)
	if wrong.Msg != unknown.Msg {
		t.Fatalf("wrong password and unknown user answer differently: %q, %q", wrong.Msg, unknown.Msg)
	}
	fault(t, second(w.svc.Authenticate(w.ctx, pwAuth("user@alpha.org", ""), "GetSlices", nil)), plc.FaultAuth)
	w.must(w.admin, "UpdatePerson", "user@alpha.org", map[string]any{"enabled": false})
	f := fault(t, second(w.svc.Authenticate(w.ctx, pwAuth("user@alpha.org", "password-user@alpha.org"), "GetSlices", nil)), plc.FaultAuth)
	if !strings.Contains(f.Msg, "disabled") {
		t.Fatalf("disabled: %q", f.Msg)
	}
	// A person added without a password cannot log in at all.
	w.id(w.admin, "AddPerson", map[string]any{"first_name": "N", "last_name": "P", "email": "nopw@x.org"})
	w.must(w.admin, "UpdatePerson", "nopw@x.org", map[string]any{"enabled": true})
	fault(t, second(w.svc.Authenticate(w.ctx, pwAuth("nopw@x.org", ""), "GetSlices", nil)), plc.FaultAuth)
}

func second[T any](_ T, err error) error { return err }

func TestAuthMethods(t *testing.T) {
	w := newWorld(t)
	anon := map[string]any{"AuthMethod": "anonymous"}
	if c, err := w.svc.Authenticate(w.ctx, anon, "GetSites", nil); err != nil || !c.Anonymous {
		t.Fatalf("anonymous GetSites: %v", err)
	}
	fault(t, second(w.svc.Authenticate(w.ctx, anon, "GetPersons", nil)), plc.FaultAuth)
	fault(t, second(w.svc.Authenticate(w.ctx, map[string]any{"AuthMethod": "magic"}, "GetSites", nil)), plc.FaultInvalidArg)
	fault(t, second(w.svc.Authenticate(w.ctx, map[string]any{}, "GetSites", nil)), plc.FaultInvalidArg)
	fault(t, second(w.svc.Authenticate(w.ctx, anon, "NoSuchMethod", nil)), plc.FaultInvalidMethod)
	// Bootstrap does nothing once an admin exists.
	if err := w.svc.Bootstrap(w.ctx, "other@example.org", "password"); err != nil {
		t.Fatal(err)
	}
	if got := records(t, w.must(w.admin, "GetPersons", map[string]any{"roles": "admin"})); len(got) != 1 {
		t.Fatalf("admins: %v", got)
	}
}

func TestLoginTokens(t *testing.T) {
	w := newWorld(t)
	token, err := w.svc.Login(w.ctx, "pi@alpha.org", "password-pi@alpha.org")
	if err != nil || len(token) != 64 {
		t.Fatalf("Login: %q %v", token, err)
	}
	c, err := w.svc.AuthenticateToken(w.ctx, token)
	if err != nil || c.PersonID != w.piA.PersonID || !c.Has(20) {
		t.Fatalf("AuthenticateToken: %+v %v", c, err)
	}
	fault(t, second(w.svc.AuthenticateToken(w.ctx, token+"0")), plc.FaultAuth)
	fault(t, second(w.svc.Login(w.ctx, "pi@alpha.org", "wrong")), plc.FaultAuth)
	w.advance(plc.DefaultTokenTTL + time.Second)
	fault(t, second(w.svc.AuthenticateToken(w.ctx, token)), plc.FaultAuth)
}

// TestSessionsNotLimited: a busy client (a portal, a broker) makes many
// calls at once with its session key from one address, and none is
// refused, even after forged keys and wrong passwords from the same
// address: keys are 256-bit secrets, never throttled.
func TestSessionsNotLimited(t *testing.T) {
	w := newWorld(t)
	ctx := plc.WithClientAddr(w.ctx, "192.0.2.9")
	sess := w.must(w.userA, "GetSession").(string)
	for range 30 {
		w.svc.Authenticate(ctx, map[string]any{"AuthMethod": "session", "session": "forged"}, "AuthCheck", nil)
		w.svc.Authenticate(ctx, pwAuth("user@alpha.org", "guess"), "AuthCheck", nil)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for range 40 {
		wg.Go(func() {
			if _, err := w.svc.Authenticate(ctx, map[string]any{"AuthMethod": "session", "session": sess}, "AuthCheck", nil); err != nil {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if refused != 0 {
		t.Fatalf("%d of 40 parallel calls with a good session key were refused", refused)
	}
}

func TestCanonical(t *testing.T) {
	args := []any{int64(1), "abc", map[string]any{"x": true, "y": nil}, []any{2.5, 1e16, 0.0001, 1e-5, -3.0}, "ünï"}
	// Both values computed by PlanetLab's own canonicalize() in Python.
	if got, want := plc.Canonical(args), "[-3.00.000111e+161e-052.5NoneTrueabcünï]"; got != want {
		t.Fatalf("Canonical = %q, want %q", got, want)
	}
	if got, want := plc.LegacyHMAC("secret-key", args), "c2a30edf3b3e451a05016e4cf8e09e1f78536699"; got != want {
		t.Fatalf("LegacyHMAC = %s, want %s", got, want)
	}
}

func TestHMACAuth(t *testing.T) {
	w := newWorld(t)
	token := w.must(w.admin, "AddNodeToken", w.nodeA1).(string)
	node, secret, err := w.svc.RegisterNode(w.ctx, token, "n1.alpha.org", "", "")
	if err != nil {
		t.Fatal(err)
	}
	args := []any{int64(node)}
	auth := func(a map[string]any, method string, args []any) error {
		_, err := w.svc.Authenticate(w.ctx, a, method, args)
		return err
	}
	legacy := map[string]any{"AuthMethod": "hmac", "node_id": node, "value": plc.LegacyHMAC(secret, args)}
	if err := auth(legacy, "GetSlivers", args); err != nil {
		t.Fatalf("legacy HMAC: %v", err)
	}
	fault(t, auth(legacy, "GetSlivers", []any{int64(node + 1)}), plc.FaultAuth) // other args
	now := int64(t0)
	sha := plc.NodeAuth(node, secret, "GetSlivers", now, args)
	c, err := w.svc.Authenticate(w.ctx, sha, "GetSlivers", args)
	if err != nil || c.NodeID != node || c.PersonID != 0 {
		t.Fatalf("sha256 HMAC: %+v %v", c, err)
	}
	if !strings.HasPrefix(sha["value"].(string), plc.HMACPrefix) {
		t.Fatalf("value %v", sha["value"])
	}
	fault(t, auth(sha, "ReportSlivers", args), plc.FaultAuth) // bound to the method
	stale := plc.NodeAuth(node, secret, "GetSlivers", now-plc.HMACMaxSkew-1, args)
	f := fault(t, auth(stale, "GetSlivers", args), plc.FaultAuth)
	if !strings.Contains(f.Msg, "clock") {
		t.Fatalf("stale: %q", f.Msg)
	}
	noTime := plc.NodeAuth(node, secret, "GetSlivers", now, args)
	delete(noTime, "time")
	fault(t, auth(noTime, "GetSlivers", args), plc.FaultAuth)
	fault(t, auth(plc.NodeAuth(node, "wrong", "GetSlivers", now, args), "GetSlivers", args), plc.FaultAuth)
	fault(t, auth(plc.NodeAuth(w.nodeA2, "", "GetSlivers", now, args), "GetSlivers", args), plc.FaultAuth) // never registered
	// A node authenticated so gets its slivers through the method table.
	sv := w.must(c, "GetSlivers").(map[string]any)
	if sv["node_id"] != node || sv["hostname"] != "n1.alpha.org" {
		t.Fatalf("GetSlivers: %v", sv)
	}
	// Node sessions work too.
	key := w.must(c, "GetSession").(string)
	if c2, err := w.svc.Authenticate(w.ctx, map[string]any{"AuthMethod": "session", "session": key}, "GetSlivers", nil); err != nil || c2.NodeID != node {
		t.Fatalf("node session: %+v %v", c2, err)
	}
}
