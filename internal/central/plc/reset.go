package plc

import (
	"context"
	"errors"
	"time"

	"github.com/orbisproject/orbis/internal/central/store"
)

// ResetTTL is how long a password reset link works.
const ResetTTL = time.Hour

// RequestPasswordReset makes a one-time password reset token for the
// enabled person email, replacing any earlier one, and returns it to be
// sent to them; for an unknown or disabled email it returns "" and no
// error, so that the answer does not tell who has an account. Anyone may
// call it: each request counts as a failed login of email from the
// caller's address (ClientAddr), so the login throttle bounds them.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) (token string, err error) {
	if err := s.throttleAnonymous(ctx, email); err != nil {
		return "", err
	}
	token = randomHex(32)
	err = s.update(ctx, &Caller{Anonymous: true}, func(t *txn) error {
		persons, err := t.Persons(condQuery("email", email))
		if err != nil || len(persons) == 0 || !persons[0].Enabled {
			token = ""
			return err
		}
		return t.SetPasswordReset(persons[0].PersonID, sha256Hex(token), t.now+int64(ResetTTL/time.Second))
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// ResetPassword sets a new password with a token of RequestPasswordReset,
// which it uses up, and ends every session and API token of the person.
// It returns the person's email.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (string, error) {
	if len(password) < MinPasswordLen {
		return "", Faultf(FaultInvalidArg, "password: at least %d characters", MinPasswordLen)
	}
	hash, err := s.boundedHash(ctx, password)
	if err != nil {
		return "", err
	}
	var email string
	err = s.update(ctx, &Caller{Anonymous: true}, func(t *txn) error {
		id, err := t.UsePasswordReset(sha256Hex(token), t.now)
		if errors.Is(err, store.ErrNotFound) {
			return Faultf(FaultAuth, "this password reset link is unknown, used or expired: ask for a new one")
		}
		if err != nil {
			return err
		}
		p, err := t.person(id)
		if err != nil {
			return err
		}
		email = p.Email
		if err := t.SetPasswordHash(id, hash); err != nil {
			return err
		}
		_, err = t.RevokePerson(id, "", "")
		return err
	})
	return email, err
}
