package plc_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
)

const scriptEmail = "javascript:alert(1)//@x.test"

// TestEmailInjection: a user at a third site tries to store a script as
// their email, and a PI as a new person's, through PLCAPI and the JSON
// API; each is refused naming the field, and nothing changes.
func TestEmailInjection(t *testing.T) {
	w, wire := freshWire(t)
	gamma := w.site("gamma", 3)
	w.person("low@gamma.org", gamma, "user")
	w.person("pi@gamma.org", gamma, "pi")
	c := wire.from("127.0.0.40")
	low := pwAuth("low@gamma.org", "password-low@gamma.org")
	token, err := c.login("low@gamma.org", "password-low@gamma.org")
	if err != nil {
		t.Fatal(err)
	}
	piToken, err := c.login("pi@gamma.org", "password-pi@gamma.org")
	if err != nil {
		t.Fatal(err)
	}
	check := func(err error, status int) {
		t.Helper()
		f := wireFault(t, err, plc.FaultInvalidArg, status)
		if !strings.Contains(f.Msg, "person_fields.email") {
			t.Fatalf("the fault does not name the field: %q", f.Msg)
		}
	}
	for _, bad := range []string{scriptEmail, "a@b@c", "<x>@x.test", "x@-x.test", "x@x..test", "x y@x.test", ".x@x.test", "x@x.test\n"} {
		_, err := c.plcapi("UpdatePerson", low, "low@gamma.org", map[string]any{"email": bad})
		check(err, 0)
		_, err = c.call(token, "UpdatePerson", "low@gamma.org", map[string]any{"email": bad})
		check(err, http.StatusBadRequest)
		_, err = c.plcapi("AddPerson", pwAuth("pi@gamma.org", "password-pi@gamma.org"), map[string]any{"first_name": "A", "last_name": "B", "email": bad})
		check(err, 0)
		_, err = c.call(piToken, "AddPerson", map[string]any{"first_name": "A", "last_name": "B", "email": bad})
		check(err, http.StatusBadRequest)
	}
	got := records(t, w.must(w.admin, "GetPersons", map[string]any{"last_name": "low@gamma.org"}, []any{"email"}))
	if len(got) != 1 || got[0]["email"] != "low@gamma.org" {
		t.Fatalf("email after the attempts: %v", got)
	}
	if n := len(records(t, w.must(w.admin, "GetPersons", map[string]any{"first_name": "A"}))); n != 0 {
		t.Fatalf("%d persons added with a bad email", n)
	}
	if _, err := c.call(token, "UpdatePerson", "low@gamma.org", map[string]any{"email": "o'brien+plc@mail.gamma.org"}); err != nil {
		t.Fatalf("a good email: %v", err)
	}
}

// TestStoredEmailKept: a person stored with an email the check refuses
// (imported from elsewhere) keeps it, can log in, and can change other
// fields.
func TestStoredEmailKept(t *testing.T) {
	w := newWorld(t)
	const odd = "odd(comment)@legacy.test"
	err := w.store.Update(w.ctx, "test", func(tx store.Tx) error {
		p := api.Person{FirstName: "O", LastName: "D", Email: odd, Enabled: true}
		return tx.AddPerson(&p, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	w.must(w.admin, "UpdatePerson", odd, map[string]any{"phone": "+1 555", "password": "legacy-password"})
	w.must(w.admin, "AddRoleToPerson", "user", odd)
	c := w.login(odd, "legacy-password")
	w.must(c, "UpdatePerson", odd, map[string]any{"bio": "still here"})
	got := records(t, w.must(w.admin, "GetPersons", odd, []any{"email", "phone", "bio"}))
	if len(got) != 1 || got[0]["email"] != odd || got[0]["phone"] != "+1 555" || got[0]["bio"] != "still here" {
		t.Fatalf("legacy person: %v", got)
	}
	fault(t, second(w.call(c, "UpdatePerson", odd, map[string]any{"email": odd})), plc.FaultInvalidArg)
}
