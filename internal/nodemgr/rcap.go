package nodemgr

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"

	"github.com/orbisproject/orbis/api"
)

// rcapHash is the SHA-256 of an rcap's 16 bytes. Only hashes are kept, in
// memory and on disk, so neither a core dump nor the state directory
// reveals an rcap.
type rcapHash [sha256.Size]byte

func (h rcapHash) String() string { return hex.EncodeToString(h[:]) }

// id is the rcap's public identifier: a prefix of its hash. Finding an rcap
// from it is as hard as inverting SHA-256.
func (h rcapHash) id() string { return hex.EncodeToString(h[:8]) }

func parseHash(s string) (rcapHash, error) {
	var h rcapHash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("bad rcap hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// newRcap returns a fresh rcap (128 random bits, lower-case hex) and its
// hash.
func newRcap() (api.Rcap, rcapHash, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", rcapHash{}, fmt.Errorf("random rcap: %w", err)
	}
	return api.Rcap(hex.EncodeToString(b[:])), sha256.Sum256(b[:]), nil
}

// hashRcap checks that rc looks like an rcap and returns its hash.
func hashRcap(rc api.Rcap) (rcapHash, error) {
	if len(rc) != 32 {
		return rcapHash{}, deniedf("rcap refused: malformed (want 32 lower-case hex digits, got %d characters)", len(rc))
	}
	for _, c := range []byte(rc) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return rcapHash{}, deniedf("rcap refused: malformed (want 32 lower-case hex digits)")
		}
	}
	b, _ := hex.DecodeString(string(rc))
	return sha256.Sum256(b), nil
}

// lookupLocked returns the live rcap rc names, or a denial that says no more
// than that it is not one. The map is keyed by hash, so the lookup's timing
// depends on the hash of what the caller sent, not on any stored secret;
// the final comparison is constant-time all the same.
func (m *Manager) lookupLocked(rc api.Rcap) (*rcapRecord, error) {
	h, err := hashRcap(rc)
	if err != nil {
		return nil, err
	}
	r := m.rcap(h)
	if r == nil || subtle.ConstantTimeCompare(r.Hash[:], h[:]) != 1 {
		return nil, deniedf("rcap refused: unknown, released or expired")
	}
	return r, nil
}
