package plc_test

import (
	"net/http"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// Revocation, over the wire: a session key or API token that a thief
// copied stops working when its owner logs out, changes their password,
// or is disabled or deleted.

// creds are a person's live credentials: PLCAPI sessions and JSON API
// tokens.
type creds struct {
	sessions []string
	tokens   []string
}

func sessionAuth(key string) map[string]any {
	return map[string]any{"AuthMethod": "session", "session": key}
}

// grab makes n sessions and n tokens for user.
func grab(t *testing.T, c *client, user, pw string, n int) creds {
	t.Helper()
	var cr creds
	for range n {
		key, err := c.plcapi("GetSession", pwAuth(user, pw))
		if err != nil {
			t.Fatalf("GetSession: %v", err)
		}
		cr.sessions = append(cr.sessions, key.(string))
		tok, err := c.login(user, pw)
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		cr.tokens = append(cr.tokens, tok)
	}
	return cr
}

// works checks each credential: live ones answer AuthCheck (PLCAPI) and
// GetPersons (JSON API); dead ones are fault 103, HTTP 401.
func works(t *testing.T, c *client, cr creds, live bool) {
	t.Helper()
	for _, k := range cr.sessions {
		_, err := c.plcapi("AuthCheck", sessionAuth(k))
		if live && err != nil {
			t.Fatalf("session %s…: %v", k[:8], err)
		}
		if !live {
			wireFault(t, err, plc.FaultAuth, 0)
		}
	}
	for _, tok := range cr.tokens {
		_, err := c.call(tok, "GetPersons")
		if live && err != nil {
			t.Fatalf("token %s…: %v", tok[:8], err)
		}
		if !live {
			wireFault(t, err, plc.FaultAuth, http.StatusUnauthorized)
		}
	}
}

func TestDeleteSessionAndLogout(t *testing.T) {
	_, wire := freshWire(t)
	c := wire.from("127.0.0.30")
	thief := wire.from("127.0.0.31")
	cr := grab(t, c, "user@alpha.org", "password-user@alpha.org", 2)
	works(t, thief, cr, true)
	// DeleteSession ends the session it is called with, and only it.
	if v, err := c.plcapi("DeleteSession", sessionAuth(cr.sessions[0])); err != nil || v != int64(1) {
		t.Fatalf("DeleteSession: %v %v", v, err)
	}
	works(t, thief, creds{sessions: cr.sessions[:1]}, false)
	works(t, thief, creds{sessions: cr.sessions[1:]}, true)
	_, err := c.plcapi("DeleteSession", pwAuth("user@alpha.org", "password-user@alpha.org"))
	wireFault(t, err, plc.FaultInvalidArg, 0)
	_, err = c.call(cr.tokens[0], "DeleteSession")
	wireFault(t, err, plc.FaultInvalidArg, http.StatusBadRequest)
	// Logout revokes the token it is sent with, and only it.
	if err := c.post("logout", cr.tokens[0], nil, nil); err != nil {
		t.Fatalf("logout: %v", err)
	}
	works(t, thief, creds{tokens: cr.tokens[:1]}, false)
	works(t, thief, creds{tokens: cr.tokens[1:]}, true)
	wireFault(t, c.post("logout", cr.tokens[0], nil, nil), plc.FaultAuth, http.StatusUnauthorized)
	wireFault(t, c.post("logout", "", nil, nil), plc.FaultAuth, http.StatusUnauthorized)
}

// TestPasswordChangeRevokes: an admin's or a PI's password change ends
// every session and token; a person's own change keeps the one it was
// made with; the old password no longer works.
func TestPasswordChangeRevokes(t *testing.T) {
	_, wire := freshWire(t)
	c := wire.from("127.0.0.32")
	pi, err := c.login("pi@alpha.org", "password-pi@alpha.org")
	if err != nil {
		t.Fatal(err)
	}

	// By an admin (PLCAPI, password auth), by a PI (JSON API).
	stolen := grab(t, c, "user@alpha.org", "password-user@alpha.org", 2)
	if _, err := c.plcapi("UpdatePerson", pwAuth("admin@example.org", "admin-password"), "user@alpha.org", map[string]any{"password": "new-password-1"}); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)
	guessed(t, c.pwCheck("user@alpha.org", "password-user@alpha.org"))
	stolen = grab(t, c, "user@alpha.org", "new-password-1", 2)
	if _, err := c.call(pi, "UpdatePerson", "user@alpha.org", map[string]any{"password": "new-password-2"}); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)

	// By the person, with a session (PLCAPI) or a token (JSON API): the
	// caller's own credential stays, every other goes.
	stolen = grab(t, c, "user@alpha.org", "new-password-2", 2)
	if _, err := c.plcapi("UpdatePerson", sessionAuth(stolen.sessions[0]), "user@alpha.org", map[string]any{"password": "new-password-3"}); err != nil {
		t.Fatal(err)
	}
	works(t, c, creds{sessions: stolen.sessions[:1]}, true)
	works(t, c, creds{sessions: stolen.sessions[1:], tokens: stolen.tokens}, false)
	stolen = grab(t, c, "user@alpha.org", "new-password-3", 2)
	if _, err := c.call(stolen.tokens[0], "UpdatePerson", "user@alpha.org", map[string]any{"password": "new-password-4"}); err != nil {
		t.Fatal(err)
	}
	works(t, c, creds{tokens: stolen.tokens[:1]}, true)
	works(t, c, creds{sessions: stolen.sessions, tokens: stolen.tokens[1:]}, false)
	// With password auth, nothing is kept.
	stolen = grab(t, c, "user@alpha.org", "new-password-4", 1)
	if _, err := c.plcapi("UpdatePerson", pwAuth("user@alpha.org", "new-password-4"), "user@alpha.org", map[string]any{"password": "new-password-5"}); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)
	// Other persons keep theirs.
	if _, err := c.call(pi, "GetPersons"); err != nil {
		t.Fatalf("the PI's token: %v", err)
	}
}

// TestDisableAndDeleteRevoke: disabling a person ends their sessions and
// tokens for good (enabling them again brings none back); deleting them
// too.
func TestDisableAndDeleteRevoke(t *testing.T) {
	_, wire := freshWire(t)
	c := wire.from("127.0.0.33")
	admin, err := c.login("admin@example.org", "admin-password")
	if err != nil {
		t.Fatal(err)
	}
	stolen := grab(t, c, "user@beta.org", "password-user@beta.org", 2)
	if _, err := c.call(admin, "UpdatePerson", "user@beta.org", map[string]any{"enabled": false}); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)
	if _, err := c.plcapi("UpdatePerson", pwAuth("admin@example.org", "admin-password"), "user@beta.org", map[string]any{"enabled": true}); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)
	stolen = grab(t, c, "user@beta.org", "password-user@beta.org", 2)
	if _, err := c.plcapi("DeletePerson", pwAuth("admin@example.org", "admin-password"), "user@beta.org"); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)
	// A new person with the same email inherits nothing.
	if _, err := c.call(admin, "AddPerson", map[string]any{"first_name": "N", "last_name": "N", "email": "user@beta.org", "password": "another-password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.call(admin, "UpdatePerson", "user@beta.org", map[string]any{"enabled": true}); err != nil {
		t.Fatal(err)
	}
	works(t, c, stolen, false)
}
