package web

import (
	"context"
	"fmt"
	"slices"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/mail"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// Mailer sends mails without waiting for them (mail.Mailer).
type Mailer interface {
	Send(mail.Message)
}

// notifier is central itself looking up whom to tell of a registration:
// it only reads persons, with an admin's view of them.
var notifier = &plc.Caller{Roles: []int64{api.RoleAdmin}}

// link is path on the portal's address as people reach it.
func (p *Portal) link(path string) string { return p.portalURL + path }

// sendReset mails a reset link to email or, with no mail configured,
// logs it for the operator to pass on: as a path, never built from the
// request's Host header, which the requester chooses.
func (p *Portal) sendReset(email, token string) {
	path := mail.ResetPath(token)
	if p.mailer == nil {
		p.log.Info("password reset link made; no mail is configured: give the person this path on central's address, good for "+plc.ResetTTL.String(),
			"email", email, "path", path)
		return
	}
	p.mailer.Send(mail.Reset(email, p.link(path), plc.ResetTTL))
}

// tellPIs mails the enabled PIs of site loginBase that email registered
// there and waits for them.
func (p *Portal) tellPIs(ctx context.Context, loginBase, email, name string) {
	var sites []api.Site
	if err := p.call(ctx, notifier, "GetSites", &sites, map[string]any{"login_base": loginBase}, []any{"person_ids"}); err != nil || len(sites) == 0 {
		p.log.Warn("registration notice: site", "site", loginBase, "err", err)
		return
	}
	to := p.enabledWith(ctx, api.RolePI, sites[0].PersonIDs)
	p.notice(to, "Orbis: "+email+" registered at "+loginBase, p.link("/people"),
		fmt.Sprintf("%s <%s> registered at your site %s and waits to be enabled.\n\nEnable or ignore them at\n\n  %s\n", name, email, loginBase, p.link("/people")))
}

// tellAdmins mails the enabled admins that a site registered.
func (p *Portal) tellAdmins(ctx context.Context, site, loginBase, email string) {
	to := p.enabledWith(ctx, api.RoleAdmin, nil)
	p.notice(to, "Orbis: site "+loginBase+" asks to join", p.link("/sites"),
		fmt.Sprintf("The site %q (%s) registered, with %s as its PI, and waits for approval.\n\nApprove it, and set its quotas, at\n\n  %s\n", site, loginBase, email, p.link("/sites")))
}

// tellEnabled mails a person that their account is enabled.
func (p *Portal) tellEnabled(email string) {
	p.notice([]string{email}, "Orbis: your account is enabled", p.link("/signin"),
		fmt.Sprintf("Your Orbis account %s is enabled: sign in at\n\n  %s\n", email, p.link("/signin")))
}

// notice mails to, if mail is configured and anyone is to be told.
func (p *Portal) notice(to []string, subject, link, body string) {
	if p.mailer == nil || len(to) == 0 {
		p.log.Info("portal notice (no mail sent)", "subject", subject, "to", to)
		return
	}
	p.mailer.Send(mail.Message{To: to, Subject: subject, Body: body, Link: link})
}

// enabledWith lists the emails of the enabled persons with role, among
// ids (every person if ids is nil).
func (p *Portal) enabledWith(ctx context.Context, role int64, ids []int64) []string {
	filter := map[string]any{"enabled": true}
	if ids != nil {
		if len(ids) == 0 {
			return nil
		}
		filter["person_id"] = anyIDs(ids)
	}
	var persons []api.Person
	if err := p.call(ctx, notifier, "GetPersons", &persons, filter, []any{"email", "role_ids"}); err != nil {
		p.log.Warn("notice recipients", "err", err)
		return nil
	}
	var to []string
	for _, ps := range persons {
		if slices.Contains(ps.RoleIDs, role) {
			to = append(to, ps.Email)
		}
	}
	return to
}
