package plc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// errBadLogin is the one answer to a wrong username or password, so that
// it does not tell which was wrong.
var errBadLogin = Faultf(FaultAuth, "authentication failed: unknown username or wrong password")

// Authenticate checks an XML-RPC auth struct for a call of method with
// args (the arguments after auth, which node HMAC auth signs) and returns
// the caller. Every failure is fault 103, except an unknown method (100).
// An anonymous caller may only call methods open to "anonymous"; the
// transport checks the other roles.
func (s *Service) Authenticate(ctx context.Context, auth map[string]any, method string, args []any) (*Caller, error) {
	m := s.reg.Lookup(method)
	if m == nil {
		return nil, Faultf(FaultInvalidMethod, "unknown method %q", method)
	}
	am, _ := auth["AuthMethod"].(string)
	c, err := s.authenticateBy(ctx, am, auth, m, args)
	if c != nil {
		c.authMethod = am
	}
	return c, err
}

// authenticateBy checks auth by its AuthMethod am. An unknown AuthMethod
// is an invalid argument (102), as in PLCAPI.
func (s *Service) authenticateBy(ctx context.Context, am string, auth map[string]any, m *Method, args []any) (*Caller, error) {
	method := m.Name
	switch am {
	case "password":
		user, _ := auth["Username"].(string)
		pw, _ := auth["AuthString"].(string)
		return s.login(ctx, user, pw)
	case "session":
		key, _ := auth["session"].(string)
		return s.sessionAuth(ctx, key)
	case "hmac":
		return s.hmacAuth(ctx, auth, method, args)
	case "anonymous":
		c := &Caller{Anonymous: true}
		if !m.Allows(c) {
			return nil, Faultf(FaultAuth, "%s cannot be called anonymously: authenticate with a password, a session or a node HMAC", method)
		}
		return c, nil
	}
	return nil, Faultf(FaultInvalidArg, "auth: AuthMethod %q is not one of password, session, hmac, anonymous", am)
}

// AuthenticateToken returns the person whose JSON API token (from Login)
// token is. Tokens are 256-bit secrets no one guesses: they are never
// throttled, so that a busy client is never refused.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Caller, error) {
	hash := sha256Hex(token)
	var c *Caller
	err := s.view(ctx, nil, func(t *txn) error {
		id, err := t.Token(hash, t.now)
		if errors.Is(err, store.ErrNotFound) {
			return Faultf(FaultAuth, "API token unknown, expired or revoked: log in again (orbis login)")
		}
		if err != nil {
			return err
		}
		c, err = t.personCaller(id)
		return err
	})
	if err != nil {
		return nil, err
	}
	c.tokenHash = hash
	return c, nil
}

// Login checks a person's password and returns a new JSON API token, good
// for Options.TokenTTL. Only its SHA-256 is stored.
func (s *Service) Login(ctx context.Context, username, password string) (string, error) {
	c, err := s.login(ctx, username, password)
	if err != nil {
		return "", err
	}
	token := randomHex(32)
	err = s.update(ctx, c, func(t *txn) error {
		return t.AddToken(sha256Hex(token), c.PersonID, "login", t.now+int64(s.tokenTTL/time.Second))
	})
	return token, err
}

// Logout revokes the JSON API token token.
func (s *Service) Logout(ctx context.Context, token string) error {
	c, err := s.AuthenticateToken(ctx, token)
	if err != nil {
		return err
	}
	return s.update(ctx, c, func(t *txn) error {
		err := t.DeleteToken(c.tokenHash)
		if errors.Is(err, store.ErrNotFound) {
			return Faultf(FaultAuth, "API token unknown, expired or revoked: it was revoked meanwhile")
		}
		return err
	})
}

// Bootstrap makes the first admin, enabled and at no site, unless an admin
// exists; it does nothing then.
func (s *Service) Bootstrap(ctx context.Context, email, password string) error {
	if email == "" || password == "" {
		return errors.New("bootstrap admin: email and password needed")
	}
	if err := checkEmail(email); err != nil {
		return fmt.Errorf("bootstrap admin email: %w", err)
	}
	hash := hashPassword(password)
	return s.update(ctx, &Caller{}, func(t *txn) error {
		admins, err := t.Persons(store.Query{Conds: []store.Cond{{Field: "role_ids", Op: store.Eq, Value: int64(api.RoleAdmin)}}, Limit: 1})
		if err != nil || len(admins) > 0 {
			return err
		}
		p := api.Person{FirstName: "Admin", LastName: "Orbis", Email: email, Enabled: true}
		if err := t.AddPerson(&p, hash); err != nil {
			return err
		}
		return t.AddRoleToPerson(api.RoleAdmin, p.PersonID)
	})
}

// login checks a username and password, throttled per source and
// account (ratelimit.go). A password verified in the last pwCacheTTL is
// let in without verifying it again, if the throttle allows the source:
// else a source refused could still try guesses, and learn which is
// right.
func (s *Service) login(ctx context.Context, email, pw string) (*Caller, error) {
	var id int64
	var hash string
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		id, hash, err = tx.PasswordHash(email)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound), err == nil && hash == "":
		id, hash = 0, dummyHash()
	case err != nil:
		return nil, s.dbError(err)
	}
	if err := s.checkLogin(ctx, email, hash, pw, id != 0 && pw != ""); err != nil {
		return nil, err
	}
	var c *Caller
	err = s.view(ctx, nil, func(t *txn) error {
		c, err = t.personCaller(id)
		return err
	})
	return c, err
}

// checkLogin verifies pw against hash within the throttle: known is
// whether a match would log someone in (a person who has a password).
func (s *Service) checkLogin(ctx context.Context, email, hash, pw string, known bool) error {
	source, account := sourceOf(ClientAddr(ctx)), accountOf(email)
	cached := func() bool { return known && s.pw.ok(s.pw.key(email, pw), hash, s.now()) }
	if err := s.limiter.allow(source, account, s.now()); err != nil {
		return err
	}
	if cached() {
		return nil
	}
	release, err := s.gates.enter(ctx, source)
	if err != nil {
		return err
	}
	defer release()
	if err := s.limiter.allow(source, account, s.now()); err != nil {
		return err
	}
	if cached() {
		return nil // verified by a login of this source that ran meanwhile
	}
	ok, err := s.checkPassword(ctx, email, hash, pw)
	if err != nil && ctx.Err() != nil {
		return err
	}
	if err != nil {
		s.log.Error("password check", "user", email, "err", err)
	}
	if !ok || !known {
		s.limiter.fail(source, account, s.now())
		return errBadLogin
	}
	s.limiter.succeed(source, account)
	return nil
}

// personCaller returns the caller that person id is, refusing a
// disabled or deleted person.
func (t *txn) personCaller(id int64) (*Caller, error) {
	ps, err := t.Persons(store.ByID("person_id", id))
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		return nil, Faultf(FaultAuth, "authentication failed: the person no longer exists")
	}
	p := ps[0]
	if !p.Enabled {
		return nil, Faultf(FaultAuth, "account %s is disabled: ask a PI of your site or an admin to enable it", p.Email)
	}
	return &Caller{PersonID: p.PersonID, Email: p.Email, Roles: p.RoleIDs, SiteIDs: p.SiteIDs}, nil
}

// sessionAuth finds the person or node of a session key. Like tokens,
// session keys are never throttled.
func (s *Service) sessionAuth(ctx context.Context, key string) (*Caller, error) {
	hash := sha256Hex(key)
	var c *Caller
	err := s.view(ctx, nil, func(t *txn) error {
		pid, nid, err := t.Session(hash, t.now)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Faultf(FaultAuth, "session unknown, expired or ended: call GetSession again")
		case err != nil:
			return err
		case pid != 0:
			c, err = t.personCaller(pid)
			return err
		}
		c = &Caller{NodeID: nid}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.sessionHash = hash
	return c, nil
}

// hmacAuth checks a node's HMAC of the call (see HMACValue and
// LegacyHMAC). Node secrets are 256-bit: never throttled.
func (s *Service) hmacAuth(ctx context.Context, auth map[string]any, method string, args []any) (*Caller, error) {
	nodeID, ok := AsInt(auth["node_id"])
	_, ok2 := auth["value"].(string)
	if !ok || !ok2 || nodeID <= 0 {
		return nil, Faultf(FaultAuth, "hmac auth: node_id (int) and value (string) are required")
	}
	secret, err := s.NodeSecret(ctx, nodeID)
	if err != nil {
		return nil, Faultf(FaultAuth, "hmac auth: node %d is unknown or not registered", nodeID)
	}
	if err := checkHMAC(secret, method, auth, args, s.now().Unix()); err != nil {
		return nil, err
	}
	return &Caller{NodeID: nodeID}, nil
}

// checkHMAC compares the auth value with the one computed, in constant
// time.
func checkHMAC(secret, method string, auth map[string]any, args []any, now int64) error {
	value, _ := auth["value"].(string)
	var want string
	if strings.HasPrefix(value, HMACPrefix) {
		t, ok := AsInt(auth["time"])
		if !ok {
			return Faultf(FaultAuth, "hmac auth: a %q value needs the time (int) it was made", HMACPrefix)
		}
		if t < now-HMACMaxSkew || t > now+HMACMaxSkew {
			return Faultf(FaultAuth, "hmac auth: time %d is more than %d s from central's clock (%d): set the node's clock", t, HMACMaxSkew, now)
		}
		want = HMACValue(secret, method, t, args)
	} else {
		want = LegacyHMAC(secret, args)
	}
	if !hmac.Equal([]byte(strings.ToLower(value)), []byte(want)) {
		return Faultf(FaultAuth, "hmac auth: the call could not be authenticated (wrong value)")
	}
	return nil
}

// sha256Hex is how sessions, tokens and registration tokens are stored.
func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
