package web_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/mail"
	"github.com/orbisproject/orbis/internal/testutil"
)

var mailLink = regexp.MustCompile(`https://portal\.test(/\S+)`)

// linkIn is the path of the portal link in a mail.
func linkIn(t *testing.T, m gotMail) string {
	t.Helper()
	l := mailLink.FindStringSubmatch(m.Data)
	if l == nil {
		t.Fatalf("no portal link in the mail:\n%s", m.Data)
	}
	return l[1]
}

// TestMail: with --smtp, a registration is mailed to the site's PIs, an
// enabled person is told, a new site is mailed to the admins, and a
// password reset link is mailed to its person (and not logged) and works.
func TestMail(t *testing.T) {
	srv := startSMTP(t)
	var logged testutil.Buffer
	tc := startCentralConfig(t, central.Config{Log: slog.New(slog.NewTextHandler(&logged, nil)), PortalURL: "https://portal.test",
		Mail: mail.Config{Addr: srv.addr, From: "Orbis <orbis@portal.test>"}})
	w := tc.world(t)
	anon := tc.client(t)

	form := url.Values{"site": {"pt"}, "first_name": {"New"}, "last_name": {"Person"}, "email": {"new@pt.test"}, "password": {testPassword}}
	if st := anon.submit("/register", "/register", form); st != 200 {
		t.Fatalf("register: %d", st)
	}
	m := srv.wait(t)
	if !slices.Equal(m.To, []string{w.pi}) || m.From != "orbis@portal.test" || !strings.Contains(m.Data, "new@pt.test") || linkIn(t, m) != "/people" {
		t.Fatalf("registration mail: to %v from %s, want to the PI %s:\n%s", m.To, m.From, w.pi, m.Data)
	}
	pi := tc.client(t)
	pi.signin(w.pi)
	if st := pi.submit("/people", "/people/enable", url.Values{"email": {"new@pt.test"}, "enabled": {"true"}}); st != 200 {
		t.Fatalf("enable: %d", st)
	}
	if m = srv.wait(t); !slices.Equal(m.To, []string{"new@pt.test"}) || linkIn(t, m) != "/signin" {
		t.Fatalf("enabled mail: to %v:\n%s", m.To, m.Data)
	}

	site := url.Values{"site_name": {"New U"}, "login_base": {"newu"}, "first_name": {"Ann"}, "last_name": {"PI"}, "email": {"ann@newu.test"}, "password": {testPassword}}
	if st := anon.submit("/register-site", "/register-site", site); st != 200 {
		t.Fatalf("register site: %d\n%s", st, anon.last)
	}
	if m = srv.wait(t); !slices.Equal(m.To, []string{"admin@orbis.test"}) || !strings.Contains(m.Data, "newu") || linkIn(t, m) != "/sites" {
		t.Fatalf("site registration mail: to %v, want the admin:\n%s", m.To, m.Data)
	}

	anon.submit("/reset", "/reset", url.Values{"email": {"new@pt.test"}})
	m = srv.wait(t)
	link := linkIn(t, m)
	if !slices.Equal(m.To, []string{"new@pt.test"}) || !strings.HasPrefix(link, "/reset/") {
		t.Fatalf("reset mail: to %v:\n%s", m.To, m.Data)
	}
	if strings.Contains(logged.String(), link) {
		t.Error("the mailed reset link is in central's log too")
	}
	const newPW = "a new long passphrase"
	if st := anon.submit(link, link, url.Values{"password": {newPW}}); st != 200 || !strings.Contains(anon.last, "Your password is set") {
		t.Fatalf("the mailed link: %d\n%s", st, anon.last)
	}
	if st := anon.submit("/signin", "/signin", url.Values{"email": {"new@pt.test"}, "password": {newPW}}); st != 200 || !strings.Contains(anon.last, "Sign out") {
		t.Fatalf("sign in with the new password: %d", st)
	}
	anon.submit("/reset", "/reset", url.Values{"email": {"nobody@pt.test"}})
	srv.none(t, 500*time.Millisecond)
}

// TestMailRelayDown: a relay that accepts and never answers holds no
// request: the reset page answers at once, the link is logged once the
// delivery times out, and it works.
func TestMailRelayDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held <- c // never greets
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	var logged testutil.Buffer
	tc := startCentralConfig(t, central.Config{Log: slog.New(slog.NewTextHandler(&logged, nil)), PortalURL: "https://portal.test",
		Mail: mail.Config{Addr: l.Addr().String(), Timeout: time.Second, QueueLen: 2}})
	w := tc.world(t)
	anon := tc.client(t)
	for i, email := range []string{w.pi, w.user, w.atk, w.pi} {
		t0 := time.Now()
		if st := anon.submit("/reset", "/reset", url.Values{"email": {email}}); st != http.StatusOK {
			t.Fatalf("reset %d: %d", i, st)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("reset request %d waited %v for the relay", i, d)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(logged.String(), "mail not sent") < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	links := regexp.MustCompile(`link=https://portal\.test(/reset/[0-9a-f]{64})`).FindAllStringSubmatch(logged.String(), -1)
	if len(links) != 4 {
		t.Fatalf("want the 4 unsent links logged (timed out or dropped from the full queue), got %d:\n%s", len(links), logged.String())
	}
	if !strings.Contains(logged.String(), "mail queue full") {
		t.Error("4 mails at once into a queue of 2 and a stuck relay: none was dropped")
	}
	link := links[len(links)-1][1] // the pi's last link replaced the first
	if st := anon.submit(link, link, url.Values{"password": {"a new long passphrase"}}); st != 200 {
		t.Fatalf("the logged link: %d\n%s", st, anon.last)
	}
}

// TestMailSTARTTLS: a relay that offers STARTTLS gets the mail over TLS
// (its certificate verified), after AUTH PLAIN with --smtp-user.
func TestMailSTARTTLS(t *testing.T) {
	hs := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate for 127.0.0.1
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	srv := startSMTPWith(t, &smtpServer{tls: hs.TLS.Clone(), user: "orbis", pass: "relay secret"})
	tc := startCentralConfig(t, central.Config{Log: testutil.Logger(t), PortalURL: "https://portal.test",
		Mail: mail.Config{Addr: srv.addr, Username: "orbis", Password: "relay secret", TLS: &tls.Config{RootCAs: roots}}})
	w := tc.world(t)
	tc.client(t).submit("/reset", "/reset", url.Values{"email": {w.user}})
	if m := srv.wait(t); !m.Secure || !m.Authed || !slices.Equal(m.To, []string{w.user}) {
		t.Fatalf("mail over a STARTTLS relay: secure %v, authenticated %v, to %v", m.Secure, m.Authed, m.To)
	}
}
