package plc_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/internal/central/mail"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// mailbox is a plc.Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	sent []mail.Message
}

func (m *mailbox) Send(msg mail.Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
}

// take returns and forgets the mails sent.
func (m *mailbox) take() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.sent
	m.sent = nil
	return out
}

// newMailWorld is newWorld with central's mails going to the returned
// mailbox, and central's URL set.
func newMailWorld(t *testing.T) (*world, *mailbox) {
	box := &mailbox{}
	w := newWorldWith(t, sqliteStore, func(o *plc.Options) {
		o.Mailer = box
		o.CentralURL = "https://plc.example.org/"
	})
	box.take()
	return w, box
}

// TestNotifyPersons: an admin mails the persons a filter selects, and
// NotifySupport mails the admins; a node may mail only the persons of
// its site (another site's are not mailed), the bounds hold, and a
// central without a relay refuses both clearly.
func TestNotifyPersons(t *testing.T) {
	w, box := newMailWorld(t)
	w.must(w.admin, "NotifyPersons", []any{"user@alpha.org", w.piB.PersonID}, "Maintenance", "Nodes reboot at noon.")
	got := box.take()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"pi@beta.org", "user@alpha.org"}) || got[0].Subject != "Maintenance" || got[0].Body != "Nodes reboot at noon." {
		t.Fatalf("NotifyPersons sent %+v", got)
	}
	w.must(w.admin, "NotifySupport", "Help", "A node is down.")
	if got := box.take(); len(got) != 1 || !slices.Equal(got[0].To, []string{"admin@example.org"}) {
		t.Errorf("NotifySupport sent %+v", got)
	}

	node := &plc.Caller{NodeID: w.nodeA1}
	w.must(node, "NotifyPersons", map[string]any{"email": []any{"pi@alpha.org", "pi@beta.org"}}, "Node n1", "I rebooted.")
	if got := box.take(); len(got) != 1 || !slices.Equal(got[0].To, []string{"pi@alpha.org"}) {
		t.Errorf("a node's NotifyPersons sent %+v, want its site's PI only", got)
	}
	_, err := w.call(node, "NotifyPersons", []any{"pi@beta.org"}, "spam", "spam")
	fault(t, err, plc.FaultInvalidArg)
	for _, c := range []*plc.Caller{w.piA, w.userA} {
		_, err = w.call(c, "NotifyPersons", []any{"pi@beta.org"}, "spam", "spam")
		fault(t, err, plc.FaultAuth)
		_, err = w.call(c, "NotifySupport", "spam", "spam")
		fault(t, err, plc.FaultAuth)
	}
	for _, args := range [][]any{
		{[]any{"user@alpha.org"}, "two\nlines", "b"},
		{[]any{"user@alpha.org"}, strings.Repeat("s", 255), "b"},
		{[]any{"user@alpha.org"}, "s", strings.Repeat("b", 64<<10+1)},
		{[]any{"nobody@example.org"}, "s", "b"},
	} {
		_, err = w.call(w.admin, "NotifyPersons", args...)
		fault(t, err, plc.FaultInvalidArg)
	}
	if got := box.take(); len(got) != 0 {
		t.Errorf("refused calls sent %+v", got)
	}

	bare := newWorld(t)
	for name, args := range map[string][]any{"NotifyPersons": {[]any{"user@alpha.org"}, "s", "b"}, "NotifySupport": {"s", "b"}} {
		_, err := bare.call(bare.admin, name, args...)
		if f := fault(t, err, plc.FaultInvalidArg); !strings.Contains(f.Msg, "--smtp") {
			t.Errorf("%s without a relay: %q does not say why", name, f.Msg)
		}
	}
}

// TestResetPasswordCall: anyone may ask, through PLCAPI, for a person's
// password reset; the person gets the portal's mail, whose link sets a
// new password once; an unknown person gets the same answer and no mail;
// the portal's login throttle bounds the requests; a verification key is
// refused.
func TestResetPasswordCall(t *testing.T) {
	w, box := newMailWorld(t)
	anon := &plc.Caller{Anonymous: true}
	if got := w.must(anon, "ResetPassword", "user@alpha.org"); got != int64(1) {
		t.Fatalf("ResetPassword: %v", got)
	}
	got := box.take()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"user@alpha.org"}) || !strings.HasPrefix(got[0].Link, "https://plc.example.org/reset/") {
		t.Fatalf("ResetPassword sent %+v", got)
	}
	if want := mail.Reset("user@alpha.org", got[0].Link, plc.ResetTTL); got[0].Body != want.Body || got[0].Subject != want.Subject {
		t.Errorf("ResetPassword's mail is not the portal's: %+v", got[0])
	}
	token := strings.TrimPrefix(got[0].Link, "https://plc.example.org/reset/")
	if _, err := w.svc.ResetPassword(w.ctx, token, "a-new-password-1"); err != nil {
		t.Fatalf("using the mailed link: %v", err)
	}
	w.login("user@alpha.org", "a-new-password-1")
	if _, err := w.svc.ResetPassword(w.ctx, token, "a-new-password-2"); err == nil {
		t.Error("the link worked twice")
	}

	if got := w.must(w.piA, "ResetPassword", w.userA.PersonID); got != int64(1) || len(box.take()) != 1 {
		t.Errorf("ResetPassword by person_id: %v", got)
	}
	if got := w.must(anon, "ResetPassword", "nobody@example.org"); got != int64(1) || len(box.take()) != 0 {
		t.Errorf("ResetPassword of an unknown email: %v, or it mailed", got)
	}
	_, err := w.call(anon, "ResetPassword", "user@alpha.org", "a-key")
	fault(t, err, plc.FaultInvalidArg)

	var refused bool
	for range 2 * plc.DefaultLoginBurst {
		if _, err := w.call(anon, "ResetPassword", "pi@alpha.org"); err != nil {
			refused = true
			break
		}
	}
	if sent := len(box.take()); !refused || sent > plc.DefaultLoginBurst {
		t.Errorf("%d reset requests for one email were mailed, none refused: the throttle does not hold", sent)
	}
}

// notifyMethods are notify.go's, for TestMethodTable.
var notifyMethods = []string{"NotifyPersons", "NotifySupport", "ResetPassword"}

// pythonNotifyCalls calls notify.go's methods from Python within
// TestXMLRPCPython, whose central has no mail relay.
const pythonNotifyCalls = `
# Mail (notify_test.go): no relay here.
fault(102, "NotifyPersons", admin, [], "s", "b")
fault(102, "NotifySupport", admin, "s", "b")
check(call("ResetPassword", anon, "nobody@univ.edu"), 1, "ResetPassword")
`
