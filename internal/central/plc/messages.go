package plc

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/orbisproject/orbis/internal/central/store"
)

// Bounds of the message templates central keeps.
const (
	maxMessages        = 256
	maxMessageID       = 254
	maxMessageSubject  = 254
	maxMessageTemplate = 64 << 10
)

var messageKind = newKind("message", store.Message{}, "message_id", "message_id")

// messageHelp says what Orbis does with a message template.
const messageHelp = " Orbis keeps the templates as PLCAPI does; its own mails (password resets, registrations) are the portal's and do not read them."

func (s *Service) registerMessages() {
	s.add(method{name: "GetMessages", roles: rolesNode, max: 1, sig: []string{"array", "struct"},
		help: "Returns the message templates ({message_id, subject, template, enabled}) that match the filter (a message_id, a list of them, or a struct)." + messageHelp,
		call: s.getMessages})
	s.add(method{name: "AddMessage", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "struct"},
		help: fmt.Sprintf("Adds a message template {message_id, subject, template, enabled} and returns 1: a unique message_id of at most %d characters, a subject of at most %d, a template of at most %d bytes; at most %d templates.",
			maxMessageID, maxMessageSubject, maxMessageTemplate, maxMessages) + messageHelp,
		call: s.addMessage})
	s.add(method{name: "UpdateMessage", roles: rolesAdmin, min: 2, max: 2, sig: []string{"int", "string", "struct"},
		help: "Changes a message template's subject, template or enabled mark." + messageHelp,
		call: s.updateMessage})
	s.add(method{name: "DeleteMessage", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "string"},
		help: "Deletes a message template." + messageHelp,
		call: s.deleteMessage})
}

func (s *Service) getMessages(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, messageKind, func(t *txn, q store.Query) ([]store.Message, error) { return t.Messages(q) },
		func(x *store.Message) any { return x.MessageID }, nil)
}

// setMessageFields reads message_fields over m (message_id only if id)
// and checks them.
func setMessageFields(f *fieldSet, m *store.Message, id bool) error {
	allowed := []string{"subject", "template", "enabled"}
	if id {
		allowed = append(allowed, "message_id")
	}
	if err := f.only(allowed...); err != nil {
		return err
	}
	f.str("message_id", &m.MessageID)
	f.str("subject", &m.Subject)
	f.str("template", &m.Template)
	f.bool("enabled", &m.Enabled)
	switch {
	case f.err != nil:
		return f.err
	case m.MessageID == "" || utf8.RuneCountInString(m.MessageID) > maxMessageID || strings.ContainsAny(m.MessageID, "\x00\n"):
		return Faultf(FaultInvalidArg, "%s.message_id: 1 to %d characters on one line", f.what, maxMessageID)
	case utf8.RuneCountInString(m.Subject) > maxMessageSubject || strings.ContainsAny(m.Subject, "\x00\n"):
		return Faultf(FaultInvalidArg, "%s.subject: at most %d characters on one line", f.what, maxMessageSubject)
	case len(m.Template) > maxMessageTemplate || strings.ContainsRune(m.Template, 0):
		return Faultf(FaultInvalidArg, "%s.template: at most %d bytes, no NUL", f.what, maxMessageTemplate)
	}
	return nil
}

func (s *Service) addMessage(ctx context.Context, c *Caller, args []any) (any, error) {
	f, err := structArg(args, 0, "message_fields")
	if err != nil {
		return nil, err
	}
	m := store.Message{Enabled: true}
	if err := setMessageFields(f, &m, true); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		have, err := t.Messages(store.Query{})
		if err != nil {
			return err
		}
		if len(have) >= maxMessages {
			return Faultf(FaultInvalidArg, "central has %d message templates already (at most %d)", len(have), maxMessages)
		}
		return t.AddMessage(&m)
	})
	return int64(1), err
}

func (s *Service) updateMessage(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argString(args, 0, "message_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "message_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		recs, err := t.Messages(refQuery(messageKind, id))
		m, err := one(messageKind, id, recs, err)
		if err != nil {
			return err
		}
		if err := setMessageFields(f, m, false); err != nil {
			return err
		}
		return t.UpdateMessage(m)
	})
	return int64(1), err
}

func (s *Service) deleteMessage(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argString(args, 0, "message_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		recs, err := t.Messages(refQuery(messageKind, id))
		if _, err := one(messageKind, id, recs, err); err != nil {
			return err
		}
		return t.DeleteMessage(id)
	})
	return int64(1), err
}
