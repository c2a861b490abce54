package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// Sessions and API tokens are stored by the hash of their secret only; an
// expiry of 0 never expires. Their change-log entries never hold a hash.

// AddSession stores a session for a person (nodeID 0) or a node
// (personID 0).
func (t *tx) AddSession(keyHash string, personID, nodeID, expires int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if personID != 0 {
		if err := t.exists("persons", "person_id", personID); err != nil {
			return err
		}
	}
	if nodeID != 0 {
		if err := t.exists("nodes", "node_id", nodeID); err != nil {
			return err
		}
	}
	if _, err := t.insert("sessions", "expires", []string{"key_hash", "person_id", "node_id", "expires"},
		[]any{keyHash, nullID(personID), nullID(nodeID), expires}, fmt.Errorf("%w: session exists", ErrConflict)); err != nil {
		return err
	}
	objType, objID := "person", personID
	if personID == 0 {
		objType, objID = "node", nodeID
	}
	return t.event("AddSession", objType, objID, map[string]any{"expires": expires})
}

// Session finds a live session.
func (t *tx) Session(keyHash string, now int64) (int64, int64, error) {
	var personID, nodeID int64
	err := t.queryRow("SELECT COALESCE(person_id, 0), COALESCE(node_id, 0) FROM sessions "+
		"WHERE key_hash = ? AND (expires = 0 OR expires > ?)", keyHash, now).Scan(&personID, &nodeID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("find session: %w", err)
	}
	return personID, nodeID, nil
}

// DeleteSession ends a session.
func (t *tx) DeleteSession(keyHash string) error {
	if err := t.writable(); err != nil {
		return err
	}
	var personID, nodeID int64
	err := t.queryRow("DELETE FROM sessions WHERE key_hash = ? RETURNING COALESCE(person_id, 0), COALESCE(node_id, 0)",
		keyHash).Scan(&personID, &nodeID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	objType, objID := "person", personID
	if personID == 0 {
		objType, objID = "node", nodeID
	}
	return t.event("DeleteSession", objType, objID, map[string]any{})
}

// AddToken stores a JSON API token of a person.
func (t *tx) AddToken(tokenHash string, personID int64, name string, expires int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("persons", "person_id", personID); err != nil {
		return err
	}
	if _, err := t.insert("api_tokens", "expires", []string{"token_hash", "person_id", "name", "expires"},
		[]any{tokenHash, personID, name, expires}, fmt.Errorf("%w: token exists", ErrConflict)); err != nil {
		return err
	}
	return t.event("AddToken", "person", personID, map[string]any{"name": name, "expires": expires})
}

// Token finds a live API token.
func (t *tx) Token(tokenHash string, now int64) (int64, error) {
	var personID int64
	err := t.queryRow("SELECT person_id FROM api_tokens WHERE token_hash = ? AND (expires = 0 OR expires > ?)",
		tokenHash, now).Scan(&personID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("find token: %w", err)
	}
	return personID, nil
}

// DeleteToken revokes an API token.
func (t *tx) DeleteToken(tokenHash string) error {
	if err := t.writable(); err != nil {
		return err
	}
	var personID int64
	var name string
	err := t.queryRow("DELETE FROM api_tokens WHERE token_hash = ? RETURNING person_id, name", tokenHash).Scan(&personID, &name)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	return t.event("DeleteToken", "person", personID, map[string]any{"name": name})
}

// APIToken is a live JSON API token: only its hash is kept.
type APIToken struct {
	Hash, Name string
	Expires    int64
}

// Tokens lists a person's live API tokens.
func (t *tx) Tokens(personID, now int64) ([]APIToken, error) {
	rows, err := t.tx.QueryContext(t.ctx, t.d.rebind("SELECT token_hash, name, expires FROM api_tokens WHERE person_id = ? AND (expires = 0 OR expires > ?) ORDER BY expires, token_hash"), personID, now)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var tok APIToken
		if err := rows.Scan(&tok.Hash, &tok.Name, &tok.Expires); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, tok)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// SetPasswordReset stores a person's one password reset token.
func (t *tx) SetPasswordReset(personID int64, tokenHash string, expires int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("persons", "person_id", personID); err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM password_resets WHERE person_id = ?", personID); err != nil {
		return fmt.Errorf("replace password reset: %w", err)
	}
	if _, err := t.exec("INSERT INTO password_resets (token_hash, person_id, expires) VALUES (?, ?, ?)", tokenHash, personID, expires); err != nil {
		return fmt.Errorf("add password reset: %w", err)
	}
	return t.event("SetPasswordReset", "person", personID, map[string]any{"expires": expires})
}

// UsePasswordReset consumes a live password reset token.
func (t *tx) UsePasswordReset(tokenHash string, now int64) (int64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	var personID, expires int64
	err := t.queryRow("DELETE FROM password_resets WHERE token_hash = ? RETURNING person_id, expires", tokenHash).Scan(&personID, &expires)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && expires <= now) {
		return 0, fmt.Errorf("password reset: %w", ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("use password reset: %w", err)
	}
	return personID, t.event("UsePasswordReset", "person", personID, map[string]any{})
}

// RevokePerson ends a person's sessions and tokens but the two kept.
func (t *tx) RevokePerson(personID int64, keepSession, keepToken string) (int64, error) {
	if err := t.writable(); err != nil {
		return 0, err
	}
	sessions, err := t.execCount("DELETE FROM sessions WHERE person_id = ? AND key_hash <> ?", personID, keepSession)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions: %w", err)
	}
	tokens, err := t.execCount("DELETE FROM api_tokens WHERE person_id = ? AND token_hash <> ?", personID, keepToken)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens: %w", err)
	}
	if sessions+tokens == 0 {
		return 0, nil
	}
	return sessions + tokens, t.event("RevokePerson", "person", personID, map[string]any{"sessions": sessions, "tokens": tokens})
}
