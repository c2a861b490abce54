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
}

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
	if err := f.only("key_type", "key"); err != nil {
		return nil, err
	}
	if err := f.require("key_type", "key"); err != nil {
		return nil, err
	}
	k := api.Key{}
	f.str("key_type", &k.KeyType)
	f.str("key", &k.Key)
	if f.err != nil {
		return nil, f.err
	}
	if err := checkKey(&k); err != nil {
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
	case k.KeyType != "ssh":
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
		k, err := t.key(id)
		if err != nil {
			return err
		}
		p, err := t.person(k.PersonID)
		if err != nil {
			return err
		}
		if err := t.mayUpdatePerson(p, "delete a key of"); err != nil {
			return err
		}
		if err := t.bumpSlices(p.SliceIDs); err != nil {
			return err
		}
		return t.DeleteKey(id)
	})
	return int64(1), err
}
