package web

import (
	"context"
	"net/http"
	"strings"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// Resetter makes and uses password reset links: the core implements it.
type Resetter interface {
	RequestPasswordReset(ctx context.Context, email string) (token string, err error)
	ResetPassword(ctx context.Context, token, password string) (email string, err error)
}

// resetPage asks for the email to send a reset link to.
func (p *Portal) resetPage(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "reset", anonView(w, r, "Reset your password", newForm(nil)))
}

// requestReset makes a reset link and mails it or, with no mail
// configured, prints it to central's log for the operator to pass on.
// The page says the same whether or not the email has an account.
func (p *Portal) requestReset(w http.ResponseWriter, r *http.Request) {
	if !p.anonForm(w, r) {
		return
	}
	f := newForm(r.PostForm)
	email := strings.TrimSpace(f.Value("email"))
	if email == "" {
		f.fail("email", "Enter the email address of your account.")
		p.render(w, http.StatusBadRequest, "reset", anonView(w, r, "Reset your password", f))
		return
	}
	token, err := p.resetter.RequestPasswordReset(plc.WithRequestAddr(r), email)
	if err != nil {
		f.fail("email", p.message("password reset", err))
		p.render(w, statusOf(err), "reset", anonView(w, r, "Reset your password", f))
		return
	}
	if token != "" {
		p.sendReset(email, token)
	}
	v := anonView(w, r, "Reset your password", newForm(nil))
	v.Flash = "If " + email + " has an account, its reset link is on its way (from your operator when no mail is configured). It works once, for " + plc.ResetTTL.String() + "."
	p.render(w, http.StatusOK, "reset", v)
}

// newPasswordPage asks for the new password of a reset link.
func (p *Portal) newPasswordPage(w http.ResponseWriter, r *http.Request) {
	v := anonView(w, r, "Choose a new password", newForm(nil))
	v.Data = r.PathValue("token")
	p.render(w, http.StatusOK, "newpassword", v)
}

// setPassword uses a reset link.
func (p *Portal) setPassword(w http.ResponseWriter, r *http.Request) {
	if !p.anonForm(w, r) {
		return
	}
	_, err := p.resetter.ResetPassword(plc.WithRequestAddr(r), r.PathValue("token"), r.PostFormValue("password"))
	if err != nil {
		f := newForm(nil)
		f.fail("password", p.message("reset password", err))
		v := anonView(w, r, "Choose a new password", f)
		v.Data = r.PathValue("token")
		p.render(w, statusOf(err), "newpassword", v)
		return
	}
	http.Redirect(w, r, "/signin?done=reset", http.StatusSeeOther)
}
