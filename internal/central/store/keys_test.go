package store_test

import (
	"errors"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testKeyBlacklist updates a key, blacklists it, and checks that no one
// may add or set that key again, while other keys stay.
func testKeyBlacklist(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	var k, other api.Key
	update(t, s, func(tx store.Tx) error {
		k = api.Key{KeyType: "ssh", Key: "ssh-ed25519 AAAA one", PersonID: f.person.PersonID}
		other = api.Key{KeyType: "ssh", Key: "ssh-ed25519 AAAA other", PersonID: f.person.PersonID}
		if err := tx.AddKey(&k); err != nil {
			return err
		}
		return tx.AddKey(&other)
	})
	update(t, s, func(tx store.Tx) error {
		k.Key = "ssh-ed25519 AAAA bad"
		k.PersonID = 0 // UpdateKey keeps the owner
		return tx.UpdateKey(&k)
	})
	equal(t, "updated key", only(t, s, keys, "key_id", k.KeyID), api.Key{KeyID: k.KeyID, KeyType: "ssh", Key: "ssh-ed25519 AAAA bad", PersonID: f.person.PersonID})
	update(t, s, func(tx store.Tx) error { return tx.BlacklistKey(k.KeyID) })
	equal(t, "keys left", len(get(t, s, keys, store.Query{})), 1)
	for name, fn := range map[string]func(tx store.Tx) error{
		"add": func(tx store.Tx) error {
			x := api.Key{KeyType: "ssh", Key: k.Key, PersonID: f.person.PersonID}
			return tx.AddKey(&x)
		},
		"update": func(tx store.Tx) error { x := other; x.Key = k.Key; return tx.UpdateKey(&x) },
	} {
		if err := s.Update(t.Context(), "system", fn); !errors.Is(err, store.ErrConflict) {
			t.Errorf("%s a blacklisted key: %v, want ErrConflict", name, err)
		}
	}
	equal(t, "other key", only(t, s, keys, "key_id", other.KeyID).Key, "ssh-ed25519 AAAA other")
}
