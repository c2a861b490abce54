package plc_test

import (
	"slices"
	"testing"

	"github.com/orbisproject/orbis/internal/central/plc"
)

// TestKeyFamily runs UpdateKey, BlacklistKey and GetKeyTypes as PLCAPI
// has them, with the attacks a user could try: changing another person's
// key, blacklisting, and adding a blacklisted key back.
func TestKeyFamily(t *testing.T) {
	w := newWorld(t)
	if got := w.must(w.userA, "GetKeyTypes"); !slices.Equal(got.([]any), []any{"ssh"}) {
		t.Fatalf("GetKeyTypes: %v", got)
	}
	sl := w.id(w.piA, "AddSlice", map[string]any{"name": "alpha_keys"})
	w.must(w.piA, "AddPersonToSlice", "user@alpha.org", sl)
	w.must(w.piA, "AddSliceToNodes", sl, []any{w.nodeA1})
	kid := w.id(w.userA, "AddPersonKey", "user@alpha.org", map[string]any{"key_type": "ssh", "key": "ssh-ed25519 AAAA one"})
	victim := w.id(w.userB, "AddPersonKey", "user@beta.org", map[string]any{"key_type": "ssh", "key": "ssh-ed25519 AAAA victim"})
	w.takeChanged()

	w.must(w.userA, "UpdateKey", kid, map[string]any{"key": "ssh-ed25519 AAAA two"})
	if got := records(t, w.must(w.userA, "GetKeys", kid)); got[0]["key"] != "ssh-ed25519 AAAA two" || got[0]["key_type"] != "ssh" || got[0]["peer_id"] != nil {
		t.Fatalf("after UpdateKey: %v", got)
	}
	if ch := w.takeChanged(); !slices.Contains(ch, w.nodeA1) {
		t.Fatalf("UpdateKey did not tell node %d: %v", w.nodeA1, ch)
	}
	// Another site's user can neither change nor blacklist the key.
	_, err := w.call(w.userA, "UpdateKey", victim, map[string]any{"key": "ssh-ed25519 AAAA mine"})
	fault(t, err, plc.FaultPermission)
	_, err = w.call(w.userA, "BlacklistKey", victim)
	fault(t, err, plc.FaultAuth)
	for _, bad := range []map[string]any{{"key_type": "gpg"}, {"key": "two\nlines"}, {"person_id": 1}} {
		_, err = w.call(w.userA, "UpdateKey", kid, bad)
		fault(t, err, plc.FaultInvalidArg)
	}
	if got := records(t, w.must(w.admin, "GetKeys", victim)); got[0]["key"] != "ssh-ed25519 AAAA victim" {
		t.Fatalf("victim's key changed: %v", got)
	}

	// A blacklisted key is gone and cannot come back, by anyone.
	w.must(w.admin, "BlacklistKey", kid)
	if got := records(t, w.must(w.admin, "GetKeys", kid)); len(got) != 0 {
		t.Fatalf("blacklisted key still listed: %v", got)
	}
	_, err = w.call(w.userA, "AddPersonKey", "user@alpha.org", map[string]any{"key_type": "ssh", "key": "ssh-ed25519 AAAA two"})
	fault(t, err, plc.FaultInvalidArg)
	_, err = w.call(w.userB, "UpdateKey", victim, map[string]any{"key": "  ssh-ed25519 AAAA two \n"})
	fault(t, err, plc.FaultInvalidArg)
}
