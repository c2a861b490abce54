package plc

import (
	"context"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// maxKeyLen bounds an SSH public key (the node refuses longer ones).
const maxKeyLen = 8192

func (s *Service) registerKeys() {
	s.add(method{name: "AddPersonKey", roles: rolesPersons, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Adds an SSH key ({key_type: \"ssh\", key}) to a person and returns its key_id; the nodes of the person's slices get it.",
		call: s.addPersonKey})
	s.add(method{name: "GetKeys", roles: rolesAll, max: 2, sig: []string{"array", "struct", "array"},
		help: "Returns the keys that match the filter (a key_id, a list of them, or a struct), of the persons the caller may see.",
		call: s.getKeys})
	s.add(method{name: "DeleteKey", roles: rolesPersons, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a key, with the rights of UpdatePerson on its owner.",
		call: s.deleteKey})
	s.add(method{name: "UpdateKey", roles: rolesPersons, min: 2, max: 2, sig: []string{"int", "int", "struct"},
		help: "Changes a key ({key_type, key}), with the rights of UpdatePerson on its owner; the nodes of the owner's slices get the new key.",
		call: s.updateKey})
	s.add(method{name: "BlacklistKey", roles: rolesAdmin, min: 1, max: 1, sig: []string{"int", "int"},
		help: "Deletes a key and refuses its text from then on to AddPersonKey and UpdateKey, for every person (admins only).",
		call: s.blacklistKey})
	s.add(method{name: "GetKeyTypes", roles: rolesAll, max: 0, sig: []string{"array"},
		help: "Returns the key types AddPersonKey takes: [\"ssh\"], an OpenSSH public key.",
		call: func(context.Context, *Caller, []any) (any, error) { return []any{keyTypeSSH}, nil }})
}

// keyTypeSSH is the one key type: an OpenSSH public key line.
const keyTypeSSH = "ssh"

func (s *Service) getKeys(ctx context.Context, c *Caller, args []any) (any, error) {
	return getter(s, ctx, c, args, keyKind, func(t *txn, q store.Query) ([]api.Key, error) { return t.Keys(q) },
		func(x *api.Key) any { return x.KeyID },
		func(t *txn) (restriction, error) {
			if c.NodeID != 0 {
				return restriction{}, nil
			}
			ids, all, err := t.visiblePersonIDs()
			return inRestriction("person_id", ids, all), err
		})
}

func (s *Service) addPersonKey(ctx context.Context, c *Caller, args []any) (any, error) {
	ref, err := argRef(args, 0, "person_id_or_email")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "key_fields")
	if err != nil {
		return nil, err
	}
	if err := f.require("key_type", "key"); err != nil {
		return nil, err
	}
	k := api.Key{}
	if err := readKey(f, &k); err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		p, err := t.person(ref)
		if err != nil {
			return err
		}
		if err := t.mayUpdatePerson(p, "add a key to"); err != nil {
			return err
		}
		k.PersonID = p.PersonID
		if err := t.bumpSlices(p.SliceIDs); err != nil {
			return err
		}
		return t.AddKey(&k)
	})
	return k.KeyID, err
}

// checkKey accepts one line of an OpenSSH public key.
func checkKey(k *api.Key) error {
	k.Key = strings.TrimSpace(k.Key)
	switch {
	case k.KeyType != keyTypeSSH:
		return Faultf(FaultInvalidArg, "key_fields.key_type: %q (only \"ssh\")", k.KeyType)
	case k.Key == "":
		return Faultf(FaultInvalidArg, "key_fields.key: empty")
	case len(k.Key) > maxKeyLen:
		return Faultf(FaultInvalidArg, "key_fields.key: %d bytes (max %d)", len(k.Key), maxKeyLen)
	case strings.ContainsAny(k.Key, "\r\n\x00"):
		return Faultf(FaultInvalidArg, "key_fields.key: must be one line")
	case len(strings.Fields(k.Key)) < 2:
		return Faultf(FaultInvalidArg, "key_fields.key: not an OpenSSH public key (\"ssh-ed25519 AAAA... comment\")")
	}
	return nil
}

func (s *Service) deleteKey(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "key_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		_, p, err := t.ownKey(id, "delete a key of")
		if err != nil {
			return err
		}
		if err := t.bumpSlices(p.SliceIDs); err != nil {
			return err
		}
		return t.DeleteKey(id)
	})
	return int64(1), err
}

// readKey reads a key_fields struct over k and checks the result.
func readKey(f *fieldSet, k *api.Key) error {
	if err := f.only("key_type", "key"); err != nil {
		return err
	}
	f.str("key_type", &k.KeyType)
	f.str("key", &k.Key)
	if f.err != nil {
		return f.err
	}
	return checkKey(k)
}

func (s *Service) updateKey(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "key_id")
	if err != nil {
		return nil, err
	}
	f, err := structArg(args, 1, "key_fields")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		k, p, err := t.ownKey(id, "change a key of")
		if err != nil {
			return err
		}
		if err := readKey(f, k); err != nil {
			return err
		}
		if err := t.bumpSlices(p.SliceIDs); err != nil {
			return err
		}
		return t.UpdateKey(k)
	})
	return int64(1), err
}

func (s *Service) blacklistKey(ctx context.Context, c *Caller, args []any) (any, error) {
	id, err := argInt(args, 0, "key_id")
	if err != nil {
		return nil, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		_, p, err := t.ownKey(id, "blacklist a key of")
		if err != nil {
			return err
		}
		if err := t.bumpSlices(p.SliceIDs); err != nil {
			return err
		}
		return t.BlacklistKey(id)
	})
	return int64(1), err
}

// ownKey returns key id and its owner, if the caller may change the
// owner (UpdatePerson's rights).
func (t *txn) ownKey(id int64, what string) (*api.Key, *api.Person, error) {
	k, err := t.key(id)
	if err != nil {
		return nil, nil, err
	}
	p, err := t.person(k.PersonID)
	if err != nil {
		return nil, nil, err
	}
	return k, p, t.mayUpdatePerson(p, what)
}
