package plc

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
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
			return nil, Faultf(FaultAuth, "%s needs authentication (anonymous callers may only read sites, nodes, slices and leases)", method)
		}
		return c, nil
	}
	return nil, Faultf(FaultAuth, "auth: AuthMethod %q is not one of password, session, hmac, anonymous", am)
}

// AuthenticateToken returns the person whose JSON API token (from Login)
// token is.
func (s *Service) AuthenticateToken(ctx context.Context, token string) (*Caller, error) {
	keys := addrKeys(ctx)
	if err := s.checkAttempt(keys); err != nil {
		return nil, err
	}
	var c *Caller
	err := s.view(ctx, nil, func(t *txn) error {
		id, err := t.Token(sha256Hex(token), t.now)
		if errors.Is(err, store.ErrNotFound) {
			return Faultf(FaultAuth, "API token unknown or expired: log in again (orbis login)")
		}
		if err != nil {
			return err
		}
		c, err = t.personCaller(id)
		return err
	})
	s.failedAttempt(keys, err)
	return c, err
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

// Bootstrap makes the first admin, enabled and at no site, unless an admin
// exists; it does nothing then.
func (s *Service) Bootstrap(ctx context.Context, email, password string) error {
	if email == "" || password == "" {
		return errors.New("bootstrap admin: email and password needed")
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

// login checks a username and password, rate-limited per username and per
// client address.
func (s *Service) login(ctx context.Context, email, pw string) (*Caller, error) {
	userKey := "user:" + strings.ToLower(email)
	keys := append(addrKeys(ctx), userKey)
	if err := s.takeAttempt(keys); err != nil {
		return nil, err
	}
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
		s.limiter.give(keys...)
		return nil, s.dbError(err)
	}
	ok, err := s.checkPassword(ctx, email, hash, pw)
	if err != nil {
		s.log.Error("password check", "person", id, "err", err)
	}
	if !ok || id == 0 || pw == "" {
		return nil, errBadLogin
	}
	s.limiter.give(keys...)
	s.limiter.reset(userKey)
	var c *Caller
	err = s.view(ctx, nil, func(t *txn) error {
		c, err = t.personCaller(id)
		return err
	})
	return c, err
}

// takeAttempt takes a login attempt from each key's bucket.
func (s *Service) takeAttempt(keys []string) error {
	retry, ok := s.limiter.take(s.now(), keys...)
	if ok {
		return nil
	}
	return Faultf(FaultAuth, "too many failed attempts, retry in %d s", int64(math.Ceil(retry.Seconds())))
}

// checkAttempt refuses a caller that has no attempt left, without taking
// one. Session keys, API tokens and node HMACs are 256-bit secrets no one
// guesses: a busy client (a portal, a broker) may make any number of calls
// with them at once, and only their failures count (failedAttempt).
func (s *Service) checkAttempt(keys []string) error {
	if err := s.takeAttempt(keys); err != nil {
		return err
	}
	s.limiter.give(keys...)
	return nil
}

// failedAttempt charges an authentication failure to keys.
func (s *Service) failedAttempt(keys []string, err error) {
	var f *Fault
	if errors.As(err, &f) && f.Code == FaultAuth {
		s.limiter.take(s.now(), keys...)
	}
}

// addrKeys is the rate-limit key of the client address in ctx, if any.
func addrKeys(ctx context.Context) []string {
	if a := ClientAddr(ctx); a != "" {
		return []string{"addr:" + a}
	}
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

// sessionAuth finds the person or node of a session key.
func (s *Service) sessionAuth(ctx context.Context, key string) (*Caller, error) {
	keys := addrKeys(ctx)
	if err := s.checkAttempt(keys); err != nil {
		return nil, err
	}
	var c *Caller
	err := s.view(ctx, nil, func(t *txn) error {
		pid, nid, err := t.Session(sha256Hex(key), t.now)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return Faultf(FaultAuth, "session unknown or expired: call GetSession again")
		case err != nil:
			return err
		case pid != 0:
			c, err = t.personCaller(pid)
			return err
		}
		c = &Caller{NodeID: nid}
		return nil
	})
	s.failedAttempt(keys, err)
	return c, err
}

// hmacAuth checks a node's HMAC of the call (see HMACValue and
// LegacyHMAC).
func (s *Service) hmacAuth(ctx context.Context, auth map[string]any, method string, args []any) (*Caller, error) {
	nodeID, ok := asInt(auth["node_id"])
	_, ok2 := auth["value"].(string)
	if !ok || !ok2 || nodeID <= 0 {
		return nil, Faultf(FaultAuth, "hmac auth: node_id (int) and value (string) are required")
	}
	keys := append(addrKeys(ctx), "node:"+strconv.FormatInt(nodeID, 10))
	if err := s.checkAttempt(keys); err != nil {
		return nil, err
	}
	secret, err := s.NodeSecret(ctx, nodeID)
	if err != nil {
		err = Faultf(FaultAuth, "hmac auth: node %d is unknown or not registered", nodeID)
	} else {
		err = checkHMAC(secret, method, auth, args, s.now().Unix())
	}
	if err != nil {
		s.failedAttempt(keys, err)
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
		t, ok := asInt(auth["time"])
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
