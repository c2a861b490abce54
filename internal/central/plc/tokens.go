package plc

import (
	"context"
	"strings"

	"github.com/orbisproject/orbis/internal/central/store"
)

// tokenIDLen is how many hex digits of a token's SHA-256 name it in
// GetAPITokens and DeleteAPIToken: enough to tell a person's tokens
// apart, and nothing about the token itself.
const tokenIDLen = 16

// APIToken is one live JSON API token as GetAPITokens shows it.
type APIToken struct {
	// TokenID is the first hex digits of the token's SHA-256.
	TokenID string `json:"token_id"`
	// Name says what made it ("login").
	Name    string `json:"name"`
	Expires int64  `json:"expires"`
	// Current marks the token the call was made with.
	Current bool `json:"current"`
}

func (s *Service) registerTokens() {
	s.add(method{name: "GetAPITokens", roles: rolesPersons, max: 1, sig: []string{"array", "struct", "int"},
		help: "Lists a person's live JSON API tokens (by person_id or email; the caller by default): token_id, name, expires, current. The person, a PI of their site, or an admin.",
		call: s.getAPITokens})
	s.add(method{name: "DeleteAPIToken", roles: rolesPersons, min: 2, max: 2, sig: []string{"int", "struct", "int", "string"},
		help: "Revokes a person's JSON API token (by person_id or email, and the token_id GetAPITokens shows). Returns 1.",
		call: s.deleteAPIToken})
}

func (s *Service) getAPITokens(ctx context.Context, c *Caller, args []any) (any, error) {
	ref := optArg(args, 0)
	if ref == nil {
		ref = c.PersonID
	}
	out := []APIToken{}
	err := s.view(ctx, c, func(t *txn) error {
		toks, err := t.tokensOf(ref, "list the API tokens of")
		for _, tok := range toks {
			out = append(out, APIToken{TokenID: tok.Hash[:tokenIDLen], Name: tok.Name, Expires: tok.Expires, Current: tok.Hash == c.tokenHash})
		}
		return err
	})
	return Generic(out), err
}

func (s *Service) deleteAPIToken(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	id, err := argString(args, 1, "token_id")
	if err != nil {
		return nil, err
	}
	if len(id) != tokenIDLen {
		return nil, Faultf(FaultInvalidArg, "token_id: %q is not a token_id of GetAPITokens (%d hex digits)", id, tokenIDLen)
	}
	err = s.update(ctx, c, func(t *txn) error {
		toks, err := t.tokensOf(ref, "revoke the API tokens of")
		if err != nil {
			return err
		}
		for _, tok := range toks {
			if strings.HasPrefix(tok.Hash, id) {
				return t.DeleteToken(tok.Hash)
			}
		}
		return Faultf(FaultInvalidArg, "token_id: no live token %s of that person (expired or revoked already?)", id)
	})
	if err != nil {
		return nil, err
	}
	return int64(1), nil
}

// tokensOf lists the live tokens of the person ref, if the caller may
// change that person.
func (t *txn) tokensOf(ref any, what string) ([]store.APIToken, error) {
	p, err := t.person(ref)
	if err != nil {
		return nil, err
	}
	if err := t.mayUpdatePerson(p, what); err != nil {
		return nil, err
	}
	return t.Tokens(p.PersonID, t.now)
}
