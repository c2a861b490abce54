package store

import "database/sql"

// SessionRow is one session as GetSessions lists it. SessionID is the
// SHA-256 of the key, in hex: only that is stored, never the key.
type SessionRow struct {
	SessionID string `json:"session_id"`
	PersonID  int64  `json:"person_id"` // 0 for a node's
	NodeID    int64  `json:"node_id"`   // 0 for a person's
	Expires   int64  `json:"expires"`
}

// sessionTable is what a session Query may name.
var sessionTable = &table{
	kind: "session", from: "sessions t", pk: "t.key_hash",
	cols: map[string]column{
		"session_id": {"t.key_hash", kString, false}, "person_id": {"COALESCE(t.person_id, 0)", kInt, false},
		"node_id": {"COALESCE(t.node_id, 0)", kInt, false}, "expires": {"t.expires", kInt, false},
	},
}

const sessionCols = "t.key_hash, COALESCE(t.person_id, 0), COALESCE(t.node_id, 0), t.expires"

func scanSession(r *sql.Rows) (SessionRow, error) {
	var s SessionRow
	err := r.Scan(&s.SessionID, &s.PersonID, &s.NodeID, &s.Expires)
	return s, err
}

// Sessions lists sessions, expired ones not yet pruned included.
func (t *tx) Sessions(q Query) ([]SessionRow, error) {
	return list(t, sessionTable, sessionCols, q, scanSession)
}
