package plc

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Password hashes are argon2id in the PHC string form,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>" (base64 without padding),
// with OWASP's parameters: 19 MiB, 2 passes, 1 lane. bcrypt hashes
// ("$2a$", "$2b$", "$2y$") are accepted too, for records imported from
// elsewhere.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLen is the shortest password AddPerson and UpdatePerson
// accept.
const MinPasswordLen = 8

// hashPassword returns the argon2id hash of pw.
func hashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt) // never fails (crypto/rand)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key))
}

// verifyPassword reports whether pw matches the stored hash, in time that
// does not depend on where they differ.
func verifyPassword(hash, pw string) (bool, error) {
	if strings.HasPrefix(hash, "$2") {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	}
	var v, m, t, p int
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("password hash: not argon2id or bcrypt")
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil {
		return false, fmt.Errorf("password hash version: %w", err)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, fmt.Errorf("password hash parameters: %w", err)
	}
	if m < 1 || m > 1<<20 || t < 1 || t > 16 || p < 1 || p > 16 {
		return false, fmt.Errorf("password hash parameters out of range: %s", parts[3])
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err := errors.Join(err1, err2); err != nil || len(want) == 0 {
		return false, fmt.Errorf("password hash encoding: %w", err)
	}
	got := argon2.IDKey([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is verified against when a login names no one, so that the
// answer takes as long as for a real person.
var dummyHash = sync.OnceValue(func() string { return hashPassword("no one has this password") })

// boundedHash hashes pw in one of hashSlots, for callers anyone can be
// (registration, password reset): argon2's memory is never spent more
// than len(hashSlots) times at once.
func (s *Service) boundedHash(ctx context.Context, pw string) (string, error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.hashSlots }()
	return hashPassword(pw), nil
}

// throttleAnonymous counts an anonymous request about account (an
// email) as a failed login from the caller's address, refusing it when
// the login throttle would refuse a login: registrations and reset
// requests are bounded as password guesses are.
func (s *Service) throttleAnonymous(ctx context.Context, account string) error {
	source, acct, now := sourceOf(ClientAddr(ctx)), accountOf(account), s.now()
	if err := s.limiter.allow(source, acct, now); err != nil {
		return err
	}
	s.limiter.fail(source, acct, now)
	return nil
}

// checkPassword verifies pw against hash, at most len(hashSlots) at once,
// remembering a success for pwCacheTTL so that clients that send their
// password with every call (as PLCAPI clients do) pay for argon2 once
// (checkLogin looks there first).
func (s *Service) checkPassword(ctx context.Context, email, hash, pw string) (bool, error) {
	key := s.pw.key(email, pw)
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	ok, err := verifyPassword(hash, pw)
	<-s.hashSlots
	if ok {
		s.pw.remember(key, hash, s.now())
	}
	return ok, err
}

// pwCacheTTL is how long a verified password is remembered.
const pwCacheTTL = 5 * time.Minute

// pwCacheMax bounds the entries of a pwCache.
const pwCacheMax = 10000

// pwCache remembers recent successful password checks. It holds no
// password: its keys are HMAC-SHA256s of email and password under a key
// random to this process, its values the hash they matched, so a changed
// password invalidates the entry.
type pwCache struct {
	secret []byte

	// mu guards the following.
	mu      sync.Mutex
	entries map[string]pwEntry
}

type pwEntry struct {
	hash    string
	expires time.Time
}

func newPWCache() *pwCache {
	return &pwCache{secret: []byte(randomHex(32)), entries: map[string]pwEntry{}}
}

func (c *pwCache) key(email, pw string) string {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(strings.ToLower(email)))
	m.Write([]byte{0})
	m.Write([]byte(pw))
	return string(m.Sum(nil))
}

func (c *pwCache) ok(key, hash string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[key]
	return found && e.hash == hash && now.Before(e.expires)
}

func (c *pwCache) remember(key, hash string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= pwCacheMax {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= pwCacheMax {
			clear(c.entries)
		}
	}
	c.entries[key] = pwEntry{hash: hash, expires: now.Add(pwCacheTTL)}
}
