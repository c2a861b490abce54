package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// A session is a JSON API token (plc.Service.Login) in a cookie that
// scripts cannot read, sent only to this site and, over TLS, only over
// TLS and only to this host (the __Host- prefix). The store keeps only
// the token's hash, with its expiry; signing out revokes it.

// sessionCookie is the session cookie's name for r.
func sessionCookie(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-orbis_session"
	}
	return "orbis_session"
}

// preCookie names the cookie holding the CSRF token of a person not yet
// signed in (the sign-in form's).
func preCookie(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-orbis_csrf"
	}
	return "orbis_csrf"
}

// setCookie sets a cookie scripts cannot read, sent to this site only.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
}

// session returns the signed-in caller and their token; a request
// without a valid session returns a nil caller.
func (p *Portal) session(r *http.Request) (*plc.Caller, string) {
	ck, err := r.Cookie(sessionCookie(r))
	if err != nil || ck.Value == "" {
		return nil, ""
	}
	c, err := p.auth.AuthenticateToken(plc.WithRequestAddr(r), ck.Value)
	if err != nil {
		var f *plc.Fault
		if !errors.As(err, &f) {
			p.log.Warn("portal session", "err", err)
		}
		return nil, ""
	}
	return c, ck.Value
}

// csrfOf is the CSRF token of the session whose API token is token: a
// hash no one can compute without the token.
func csrfOf(token string) string {
	sum := sha256.Sum256([]byte("orbis-portal-csrf\x00" + token))
	return hex.EncodeToString(sum[:])
}

// validCSRF reports whether the form's csrf field is want.
func validCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// request is a signed-in request: who makes it, and their form's token.
type request struct {
	*http.Request
	caller *plc.Caller
	csrf   string
}

// signedIn wraps a page for signed-in people: anyone else is sent to
// sign in, and a POST without the session's CSRF token is refused.
func (p *Portal) signedIn(h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, token := p.session(r)
		if c == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		req := &request{Request: r, caller: c, csrf: csrfOf(token)}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
				return
			}
			if !validCSRF(r, req.csrf) {
				p.forbidden(w, r, c)
				return
			}
		}
		h(w, req)
	}
}

// forbidden answers a form without a valid CSRF token.
func (p *Portal) forbidden(w http.ResponseWriter, r *http.Request, c *plc.Caller) {
	p.log.Info("portal: form refused, bad CSRF token", "path", r.URL.Path, "client", plc.ClientAddr(plc.WithRequestAddr(r)))
	p.render(w, http.StatusForbidden, "error", &view{Title: "Form refused", Me: c,
		Error: "This form was refused: it was not sent from a page of this portal, or your session changed. Go back, reload the page and send it again."})
}

// signinPage shows the sign-in form, with a fresh CSRF cookie.
func (p *Portal) signinPage(w http.ResponseWriter, r *http.Request) {
	p.renderSignin(w, r, http.StatusOK, newForm(nil))
}

// renderSignin shows the sign-in form f.
func (p *Portal) renderSignin(w http.ResponseWriter, r *http.Request, status int, f *form) {
	p.render(w, status, "signin", anonView(w, r, "Sign in", f))
}

// anonForm reads the form of a person not signed in, checking its CSRF
// token against the cookie its page set; false if it answered already.
func (p *Portal) anonForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return false
	}
	ck, err := r.Cookie(preCookie(r))
	if err != nil || !validCSRF(r, ck.Value) {
		p.forbidden(w, r, nil)
		return false
	}
	return true
}

// anonView is the view of a page for a person not signed in, with a
// fresh CSRF cookie for its form.
func anonView(w http.ResponseWriter, r *http.Request, title string, f *form) *view {
	tok := rand.Text()
	setCookie(w, r, preCookie(r), tok, 3600)
	f.Values["password"] = ""
	return &view{Title: title, CSRF: tok, Form: f, Flash: flash(r)}
}

// signin checks the email and password as the JSON API's login does
// (same throttle) and starts a session.
func (p *Portal) signin(w http.ResponseWriter, r *http.Request) {
	if !p.anonForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	email, pw := strings.TrimSpace(r.PostFormValue("email")), r.PostFormValue("password")
	f.require("email", "Enter your email address.")
	f.require("password", "Enter your password.")
	if f.failed() {
		p.renderSignin(w, r, http.StatusBadRequest, f)
		return
	}
	token, err := p.auth.Login(plc.WithRequestAddr(r), email, pw)
	if err != nil {
		f.fail("password", p.message("sign in", err))
		p.renderSignin(w, r, statusOf(err), f)
		return
	}
	setCookie(w, r, preCookie(r), "", -1)
	setCookie(w, r, sessionCookie(r), token, 0)
	http.Redirect(w, r, "/slices", http.StatusSeeOther)
}

// signout revokes the session's token and clears its cookie.
func (p *Portal) signout(w http.ResponseWriter, r *request) {
	ck, err := r.Cookie(sessionCookie(r.Request))
	if err == nil {
		if err := p.auth.Logout(plc.WithRequestAddr(r.Request), ck.Value); err != nil {
			p.log.Info("portal sign out", "err", err)
		}
	}
	setCookie(w, r.Request, sessionCookie(r.Request), "", -1)
	http.Redirect(w, r.Request, "/signin?done=signedout", http.StatusSeeOther)
}
