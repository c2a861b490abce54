package plc

import (
	"context"
	"errors"
	"time"

	"github.com/orbisproject/orbis/internal/central/store"
)

func (s *Service) registerSession() {
	s.add(method{name: "AuthCheck", roles: rolesAll, sig: []string{"int"},
		help: "Returns 1 if the auth struct is good.",
		call: func(context.Context, *Caller, []any) (any, error) { return int64(1), nil }})
	s.add(method{name: "GetSession", roles: rolesAll, sig: []string{"string"},
		help: "Returns a session key for {\"AuthMethod\": \"session\", \"session\": key}, good for 24 hours.",
		call: s.getSession})
	s.add(method{name: "DeleteSession", roles: rolesAll, sig: []string{"int"},
		help: "Ends the session the call authenticates with ({\"AuthMethod\": \"session\", ...}): the key no longer works. Returns 1.",
		call: s.deleteSession})
}

// getSession makes a session for the caller; only its SHA-256 is stored.
func (s *Service) getSession(ctx context.Context, c *Caller, _ []any) (any, error) {
	key := randomHex(32)
	err := s.update(ctx, c, func(t *txn) error {
		return t.AddSession(sha256Hex(key), c.PersonID, c.NodeID, t.now+int64(s.sessionTTL/time.Second))
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
	s.registerSlices()
	s.registerMembers()
	s.registerShares()
	s.registerTags()
	s.registerLeases()
	s.registerNodeChannel()
	s.registerNodeSummaries()
	s.registerTokens()
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
