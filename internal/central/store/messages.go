package store

import (
	"database/sql"
	"fmt"
)

// Message is PLCAPI's message template, named by its MessageID. Central
// keeps it for the tools that read and write it; Orbis's own mails do
// not use it.
type Message struct {
	MessageID string `json:"message_id"`
	Subject   string `json:"subject"`
	Template  string `json:"template"`
	Enabled   bool   `json:"enabled"`
}

// messageTable is what a message Query may name.
var messageTable = &table{
	kind: "message", from: "messages t", pk: "t.message_id",
	cols: map[string]column{
		"message_id": {"t.message_id", kString, false}, "subject": {"t.subject", kString, false},
		"template": {"t.template", kString, false}, "enabled": {"t.enabled", kBool, false},
	},
}

const messageCols = "t.message_id, t.subject, t.template, t.enabled"

func scanMessage(r *sql.Rows) (Message, error) {
	var m Message
	err := r.Scan(&m.MessageID, &m.Subject, &m.Template, &m.Enabled)
	return m, err
}

// Messages lists message templates.
func (t *tx) Messages(q Query) ([]Message, error) {
	return list(t, messageTable, messageCols, q, scanMessage)
}

// AddMessage adds a message template; ErrConflict if its id is taken.
func (t *tx) AddMessage(m *Message) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("INSERT INTO messages (message_id, subject, template, enabled) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
		m.MessageID, m.Subject, m.Template, m.Enabled)
	if err != nil {
		return fmt.Errorf("add message: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: message %q exists", ErrConflict, m.MessageID)
	}
	return t.event("AddMessage", "message", 0, map[string]any{"message_id": m.MessageID, "subject": m.Subject})
}

// UpdateMessage writes a message template's subject, template and
// enabled mark.
func (t *tx) UpdateMessage(m *Message) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("UPDATE messages SET subject = ?, template = ?, enabled = ? WHERE message_id = ?",
		m.Subject, m.Template, m.Enabled, m.MessageID)
	if err != nil {
		return fmt.Errorf("update message: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("message %q: %w", m.MessageID, ErrNotFound)
	}
	return t.event("UpdateMessage", "message", 0, map[string]any{"message_id": m.MessageID, "subject": m.Subject})
}

// DeleteMessage deletes a message template.
func (t *tx) DeleteMessage(id string) error {
	if err := t.writable(); err != nil {
		return err
	}
	n, err := t.execCount("DELETE FROM messages WHERE message_id = ?", id)
	if err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("message %q: %w", id, ErrNotFound)
	}
	return t.event("DeleteMessage", "message", 0, map[string]any{"message_id": id})
}
