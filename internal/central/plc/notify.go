package plc

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/mail"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Mailer sends mails without waiting for them (mail.Mailer).
type Mailer interface {
	Send(mail.Message)
}

// Bounds of the mails NotifyPersons and NotifySupport send.
const (
	maxNotifyRecipients = 100
	maxNotifySubject    = 254
	maxNotifyBody       = 64 << 10
)

func (s *Service) registerNotify() {
	s.add(method{name: "NotifyPersons", roles: rolesNode, min: 3, max: 3, sig: []string{"int", "array", "string", "string"},
		help: fmt.Sprintf("Mails subject and body to the enabled persons that match the filter (a person_id, an email, a list of them, or a struct) through central's mail relay, and returns 1. At most %d recipients, a subject of at most %d characters on one line, a body of at most %d bytes; a node may mail only the persons of its site. Refused when central has no relay (--smtp).",
			maxNotifyRecipients, maxNotifySubject, maxNotifyBody),
		call: s.notifyPersons})
	s.add(method{name: "NotifySupport", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "string", "string"},
		help: "Mails subject and body to central's enabled admins (Orbis's support) through central's mail relay, with NotifyPersons' bounds, and returns 1. Refused when central has no relay (--smtp).",
		call: s.notifySupport})
	s.add(method{name: "ResetPassword", roles: rolesPublic, min: 1, max: 3, sig: []string{"int", "int", "string", "int"},
		help: "Asks for a person's (by person_id or email) password reset: mails the person the portal's one-time reset link, as the portal's \"forgot password\" page does, with its throttle, and returns 1 whether or not the person exists. Anyone may ask. PLCAPI's verification_key and verification_expires are refused: the person chooses the new password at the link.",
		call: s.resetPasswordCall})
}

// checkNotice checks a mail's subject and body and that central has a
// relay.
func (s *Service) checkNotice(args []any, at int) (subject, body string, err error) {
	if subject, err = argString(args, at, "subject"); err != nil {
		return "", "", err
	}
	if body, err = argString(args, at+1, "body"); err != nil {
		return "", "", err
	}
	switch {
	case utf8.RuneCountInString(subject) > maxNotifySubject || strings.ContainsAny(subject, "\x00\r\n"):
		return "", "", Faultf(FaultInvalidArg, "subject: at most %d characters on one line", maxNotifySubject)
	case len(body) > maxNotifyBody || strings.ContainsRune(body, 0):
		return "", "", Faultf(FaultInvalidArg, "body: at most %d bytes, no NUL", maxNotifyBody)
	case s.mailer == nil:
		return "", "", Faultf(FaultInvalidArg, "central has no mail relay (start it with --smtp): Orbis sends no mail")
	}
	return subject, body, nil
}

func (s *Service) notifyPersons(ctx context.Context, c *Caller, args []any) (any, error) {
	subject, body, err := s.checkNotice(args, 1)
	if err != nil {
		return nil, err
	}
	qs, err := parseFilter(personKind, args[0])
	if err != nil {
		return nil, err
	}
	var to []string
	err = s.view(ctx, c, func(t *txn) error {
		qs := withCond(qs, store.Cond{Field: "enabled", Op: store.Eq, Value: true})
		if c.NodeID != 0 && !c.IsAdmin() {
			n, err := t.node(c.NodeID)
			if err != nil {
				return err
			}
			qs = withCond(qs, store.Cond{Field: "site_ids", Op: store.Eq, Value: n.SiteID})
		}
		persons, err := runQueries(qs, func(q store.Query) ([]api.Person, error) { return t.Persons(q) },
			func(p *api.Person) any { return p.PersonID })
		if err != nil {
			return err
		}
		for _, p := range persons {
			to = append(to, p.Email)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.notice(c, to, subject, body)
}

func (s *Service) notifySupport(ctx context.Context, c *Caller, args []any) (any, error) {
	subject, body, err := s.checkNotice(args, 0)
	if err != nil {
		return nil, err
	}
	var to []string
	err = s.view(ctx, c, func(t *txn) error {
		persons, err := t.Persons(store.Query{Conds: []store.Cond{{Field: "enabled", Op: store.Eq, Value: true},
			{Field: "role_ids", Op: store.Eq, Value: int64(api.RoleAdmin)}}})
		for _, p := range persons {
			to = append(to, p.Email)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.notice(c, to, subject, body)
}

// notice queues one mail to every address of to, within the bounds.
func (s *Service) notice(c *Caller, to []string, subject, body string) (any, error) {
	slices.Sort(to)
	to = slices.Compact(to)
	switch {
	case len(to) == 0:
		return nil, Faultf(FaultInvalidArg, "no enabled person to mail")
	case len(to) > maxNotifyRecipients:
		return nil, Faultf(FaultInvalidArg, "%d recipients (at most %d)", len(to), maxNotifyRecipients)
	}
	s.mailer.Send(mail.Message{To: to, Subject: subject, Body: body})
	s.log.Info("plcapi mail queued", "caller", c.PersonID, "node", c.NodeID, "to", len(to), "subject", subject)
	return int64(1), nil
}

// resetPasswordCall is PLCAPI's ResetPassword: it asks for the portal's
// reset link, exactly as the portal's "forgot password" page does, and
// answers 1 whether or not the person exists.
func (s *Service) resetPasswordCall(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	if len(args) > 1 {
		return nil, Faultf(FaultInvalidArg, "ResetPassword: Orbis takes no verification_key: the person chooses the new password at the link it mails")
	}
	email, ok := ref.(string)
	if !ok {
		// An id: the reset goes to the person's email, which the answer
		// does not tell.
		err := s.view(ctx, &Caller{Roles: []int64{api.RoleAdmin}}, func(t *txn) error {
			persons, err := t.Persons(condQuery("person_id", ref))
			if len(persons) == 1 {
				email = persons[0].Email
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		if email == "" {
			email = fmt.Sprint("person ", ref) // throttled as any unknown account
		}
	}
	token, err := s.RequestPasswordReset(ctx, email)
	if err != nil {
		return nil, err
	}
	if token != "" {
		s.sendReset(email, token)
	}
	return int64(1), nil
}

// sendReset mails a reset link to email or, with no relay, logs its path
// for the operator to pass on, as the portal does.
func (s *Service) sendReset(email, token string) {
	path := mail.ResetPath(token)
	if s.mailer == nil {
		s.log.Info("password reset link made; no mail is configured: give the person this path on central's address, good for "+ResetTTL.String(),
			"email", email, "path", path)
		return
	}
	s.mailer.Send(mail.Reset(email, strings.TrimSuffix(s.centralURL, "/")+path, ResetTTL))
}
