package web

import (
	"net/http"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// tokensPage lists the person's live API tokens (this browser's session
// among them) with a button to revoke each.
func (p *Portal) tokensPage(w http.ResponseWriter, r *request) {
	p.renderTokens(w, r, http.StatusOK, "")
}

func (p *Portal) renderTokens(w http.ResponseWriter, r *request, status int, msg string) {
	var toks []plc.APIToken
	if err := p.call(r.Context(), r.caller, "GetAPITokens", &toks); err != nil {
		msg, status = p.message("list tokens", err), statusOf(err)
	}
	p.render(w, status, "tokens", &view{Title: "API tokens and sessions", Me: r.caller, CSRF: r.csrf, Flash: flash(r.Request), Error: msg, Data: toks})
}

// revokeToken revokes one of the person's tokens; revoking this
// browser's own session signs it out.
func (p *Portal) revokeToken(w http.ResponseWriter, r *request) {
	id := r.PostFormValue("token_id")
	if err := p.call(r.Context(), r.caller, "DeleteAPIToken", nil, r.caller.PersonID, id); err != nil {
		p.renderTokens(w, r, statusOf(err), p.message("revoke token", err))
		return
	}
	if c, _ := p.session(r.Request); c == nil {
		setCookie(w, r.Request, sessionCookie(r.Request), "", -1)
		http.Redirect(w, r.Request, "/signin?done=signedout", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r.Request, "/tokens?done=revoked", http.StatusSeeOther)
}
