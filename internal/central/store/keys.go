package store

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// keyTable is what a key Query may name.
var keyTable = &table{
	kind: "key", from: "keys t", pk: "t.key_id",
	cols: map[string]column{
		"key_id": {"t.key_id", kInt, false}, "key_type": {"t.key_type", kString, false},
		"key": {"t.key", kString, false}, "person_id": {"t.person_id", kInt, false},
	},
}

const keyCols = "t.key_id, t.key_type, t.key, t.person_id"

func scanKey(r *sql.Rows) (api.Key, error) {
	var k api.Key
	err := r.Scan(&k.KeyID, &k.KeyType, &k.Key, &k.PersonID)
	return k, err
}

// Keys lists SSH keys.
func (t *tx) Keys(q Query) ([]api.Key, error) {
	return list(t, keyTable, keyCols, q, scanKey)
}

// AddKey adds a key to its person.
func (t *tx) AddKey(k *api.Key) error {
	if err := t.writable(); err != nil {
		return err
	}
	if err := t.exists("persons", "person_id", k.PersonID); err != nil {
		return err
	}
	if err := t.notBlacklisted(k.Key); err != nil {
		return err
	}
	id, err := t.insert("keys", "key_id", []string{"key_type", "key", "person_id"},
		[]any{k.KeyType, k.Key, k.PersonID}, fmt.Errorf("%w: key exists", ErrConflict))
	if err != nil {
		return err
	}
	k.KeyID = id
	return t.event("AddKey", "key", id, fields(k))
}

// DeleteKey deletes a key.
func (t *tx) DeleteKey(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, keyTable, keyCols, "key_id", id, scanKey)
	if err != nil {
		return err
	}
	if _, err := t.exec("DELETE FROM keys WHERE key_id = ?", id); err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	return t.event("DeleteKey", "key", id, map[string]any{"person_id": prev.PersonID})
}

// UpdateKey writes a key's type and text.
func (t *tx) UpdateKey(k *api.Key) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, keyTable, keyCols, "key_id", k.KeyID, scanKey)
	if err != nil {
		return err
	}
	if err := t.notBlacklisted(k.Key); err != nil {
		return err
	}
	k.PersonID = prev.PersonID
	if err := t.update("keys", "key_id", k.KeyID, []string{"key_type", "key"}, []any{k.KeyType, k.Key}, nil); err != nil {
		return err
	}
	return t.event("UpdateKey", "key", k.KeyID, changed(prev, k))
}

// BlacklistKey deletes a key and keeps its text's hash, so that AddKey
// and UpdateKey refuse that key from then on, for every person.
func (t *tx) BlacklistKey(id int64) error {
	if err := t.writable(); err != nil {
		return err
	}
	prev, err := one(t, keyTable, keyCols, "key_id", id, scanKey)
	if err != nil {
		return err
	}
	if _, err := t.exec("INSERT INTO key_blacklist (key_hash) VALUES (?) ON CONFLICT DO NOTHING", keyHash(prev.Key)); err != nil {
		return fmt.Errorf("blacklist key: %w", err)
	}
	if _, err := t.exec("DELETE FROM keys WHERE key_id = ?", id); err != nil {
		return fmt.Errorf("delete key: %w", err)
	}
	return t.event("BlacklistKey", "key", id, map[string]any{"person_id": prev.PersonID})
}

// notBlacklisted refuses a key an admin blacklisted.
func (t *tx) notBlacklisted(key string) error {
	var one int
	err := t.queryRow("SELECT 1 FROM key_blacklist WHERE key_hash = ?", keyHash(key)).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check key blacklist: %w", err)
	}
	return fmt.Errorf("%w: the key is blacklisted", ErrConflict)
}

// keyHash is the hex SHA-256 of a key's text.
func keyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
