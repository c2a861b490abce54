package plc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/orbisproject/orbis/internal/central/store"
)

func (s *Service) registerSession() {
	s.add(method{name: "AuthCheck", roles: rolesAll, sig: []string{"int"},
		help: "Returns 1 if the auth struct is good.",
		call: func(context.Context, *Caller, []any) (any, error) { return int64(1), nil }})
	s.add(method{name: "GetSession", roles: rolesAll, max: 1, sig: []string{"string", "int"},
		help: "Returns a new session key for {\"AuthMethod\": \"session\", \"session\": key}, good for expires seconds (default 24 hours, at most as long as a JSON API token from Login lasts, 30 days by default). A person (or node) holds at most " + strconv.Itoa(s.maxSessions) + " sessions (central's -max-sessions): a new one ends the one that would expire first.",
		call: s.getSession})
	s.add(method{name: "AddSession", roles: rolesAdmin, min: 1, max: 1, sig: []string{"string", "int"},
		help: "Makes a session for a person (person_id or email), good for 24 hours, and returns its key: an admin acting as that person. The change log names the admin.",
		call: s.addSession})
	s.add(method{name: "GetSessions", roles: rolesAdmin, max: 1, sig: []string{"array", "struct"},
		help: "Returns sessions ({session_id, person_id, node_id, expires}) that match the filter (person_ids, session keys, or a struct). Orbis keeps only the SHA-256 of a key: session_id is that hash, and a filter matches a session by its key or by its hash.",
		call: s.getSessions})
	s.add(method{name: "DeleteSession", roles: rolesAll, sig: []string{"int"},
		help: "Ends the session the call authenticates with ({\"AuthMethod\": \"session\", ...}): the key no longer works. Returns 1.",
		call: s.deleteSession})
}

// getSession makes a session for the caller; only its SHA-256 is stored.
func (s *Service) getSession(ctx context.Context, c *Caller, args []any) (any, error) {
	ttl := int64(s.sessionTTL / time.Second)
	if v := optArg(args, 0); v != nil {
		n, ok := AsInt(v)
		if max := int64(s.tokenTTL / time.Second); !ok || n <= 0 || n > max {
			return nil, badArg("expires", fmt.Sprintf("a number of seconds from 1 to %d", max), v)
		}
		ttl = n
	}
	key := randomHex(32)
	err := s.update(ctx, c, func(t *txn) error {
		if err := t.capSessions(c.PersonID, c.NodeID); err != nil {
			return err
		}
		return t.AddSession(sha256Hex(key), c.PersonID, c.NodeID, t.now+ttl)
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

// register fills the method table.
func (s *Service) register() {
	s.registerSession()
	s.registerSites()
	s.registerPersons()
	s.registerKeys()
	s.registerNodes()
	s.registerNodeConf()
	s.registerSlices()
	s.registerMembers()
	s.registerShares()
	s.registerTags()
	s.registerLeases()
	s.registerNodeChannel()
	s.registerNodeSummaries()
	s.registerTokens()
	s.registerInitScripts()
	s.registerConfFiles()
	s.registerPLMisc()
	s.registerInterfaces()
	s.registerIlinks()
	s.registerNodeInfo()
	s.registerPCUs()
	s.registerPCUTypes()
	s.registerMessages()
	s.registerNotify()
	s.registerWhitelist()
	s.registerAddresses()
	s.registerTagTypes()
	s.registerNodeTags()
	s.registerSiteTags()
	s.registerPersonTags()
	s.registerAccessors()
	s.registerFixed()
	s.registerSliceKeys()
	s.registerBoot()
	s.registerNotYetImplemented() // last: every PLCAPI method not added above
}

// DefaultMaxSessions bounds the sessions one person or node holds unless
// Options.MaxSessions says otherwise: each GetSession call stores one
// until it expires, and a script that logs in on every run would
// otherwise pile up rows (and live keys) without bound. Past it, the
// session that would expire first ends: the newest login always works,
// and a key leaked long ago loses its power first. Refusing new sessions
// instead would lock the person out for a day.
const DefaultMaxSessions = 64

// capSessions ends the sessions of person personID (else node nodeID)
// that expire first, so that one more makes at most Options.MaxSessions.
func (t *txn) capSessions(personID, nodeID int64) error {
	field, id := "person_id", personID
	if id == 0 {
		field, id = "node_id", nodeID
	}
	if id == 0 {
		return nil
	}
	have, err := t.Sessions(store.Query{Conds: []store.Cond{{Field: field, Op: store.Eq, Value: id}}, Sort: []string{"expires"}})
	if err != nil {
		return err
	}
	for i := 0; len(have)-i >= t.s.maxSessions; i++ {
		if err := t.DeleteSession(have[i].SessionID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// deleteSession ends the caller's session, as PlanetLab's DeleteSession
// does: only session auth names one.
func (s *Service) deleteSession(ctx context.Context, c *Caller, _ []any) (any, error) {
	if c.sessionHash == "" {
		return nil, Faultf(FaultInvalidArg, "DeleteSession ends the session the call authenticates with: call it with {\"AuthMethod\": \"session\", \"session\": key} (the JSON API's tokens end with POST /api/v1/logout)")
	}
	err := s.update(ctx, c, func(t *txn) error {
		err := t.DeleteSession(c.sessionHash)
		if errors.Is(err, store.ErrNotFound) {
			return Faultf(FaultAuth, "session unknown, expired or ended: it ended meanwhile")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return int64(1), nil
}

var sessionKind = newKind("session", store.SessionRow{}, "person_id", "session_id")

// addSession makes a session for another person (PLCAPI's "user sudo").
func (s *Service) addSession(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	key := randomHex(32)
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.person(ref)
		if err != nil {
			return err
		}
		if err := t.capSessions(p.PersonID, 0); err != nil {
			return err
		}
		return t.AddSession(sha256Hex(key), p.PersonID, 0, t.now+int64(s.sessionTTL/time.Second))
	})
	if err != nil {
		return nil, err
	}
	return key, nil
}

func (s *Service) getSessions(ctx context.Context, c *Caller, args []any) (any, error) {
	args = append([]any(nil), args...)
	if len(args) > 0 {
		args[0] = hashSessionKeys(args[0])
	}
	return getter(s, ctx, c, args, sessionKind, func(t *txn, q store.Query) ([]store.SessionRow, error) { return t.Sessions(q) },
		func(x *store.SessionRow) any { return x.SessionID }, nil)
}

// hashSessionKeys lets a session filter name a session by its key: each
// session_id string also matches as its SHA-256.
func hashSessionKeys(v any) any {
	both := func(x any) []any {
		if k, ok := x.(string); ok {
			return []any{k, sha256Hex(k)}
		}
		return []any{x}
	}
	switch x := v.(type) {
	case string:
		return both(x)
	case []any:
		var out []any
		for _, e := range x {
			out = append(out, both(e)...)
		}
		return out
	case map[string]any:
		m := maps.Clone(x)
		if id, ok := m["session_id"]; ok {
			if l, ok := id.([]any); ok {
				m["session_id"] = hashSessionKeys(l)
			} else {
				m["session_id"] = both(id)
			}
		}
		return m
	}
	return v
}
