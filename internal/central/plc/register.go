package plc

import (
	"context"
	"slices"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// DefaultMaxPending bounds the self-registered persons a site holds
// waiting for its PI: registering needs no account, so without a bound
// anyone could fill the store.
const DefaultMaxPending = 50

// Registration is a person registering themself at a site.
type Registration struct {
	// LoginBase names the site.
	LoginBase                            string
	FirstName, LastName, Email, Password string
}

// RegisterPerson adds a person who registered themself at an enabled
// site: disabled, with the user role, until a PI of the site (or an
// admin) enables them with UpdatePerson. Anyone may call it; a site
// holds at most Options.MaxPending such persons waiting, and each
// registration counts against the login throttle of the caller's
// address (ClientAddr), as a failed login does.
func (s *Service) RegisterPerson(ctx context.Context, reg Registration) (int64, error) {
	var site *api.Site
	room := func(t *txn) (err error) { site, err = t.openForRegistration(reg.LoginBase, s.maxPending); return err }
	return s.selfRegister(ctx, reg, room, func(t *txn, p *api.Person, hash string) error {
		return t.addRegistrant(p, hash, site.SiteID, api.RoleUser)
	})
}

// selfRegister is the flow of a self-registration: reg's person is checked,
// room (which must hold) is checked, the caller's address is throttled,
// the password is hashed outside any transaction, and add stores the
// person in one transaction with room checked again. It returns the new
// person's ID.
func (s *Service) selfRegister(ctx context.Context, reg Registration, room func(t *txn) error, add func(t *txn, p *api.Person, hash string) error) (int64, error) {
	f := &fieldSet{what: "person_fields", m: map[string]any{"first_name": reg.FirstName, "last_name": reg.LastName, "email": reg.Email, "password": reg.Password}}
	var p api.Person
	pw, err := setPersonFields(f, &p)
	if err != nil {
		return 0, err
	}
	if pw == "" {
		return 0, Faultf(FaultInvalidArg, "person_fields.password: at least %d characters", MinPasswordLen)
	}
	c := &Caller{Anonymous: true}
	if err := s.view(ctx, c, room); err != nil {
		return 0, err
	}
	if err := s.throttleAnonymous(ctx, p.Email); err != nil {
		return 0, err
	}
	hash, err := s.boundedHash(ctx, pw) // outside the transaction: it is slow on purpose
	if err != nil {
		return 0, err
	}
	err = s.update(ctx, c, func(t *txn) error {
		if err := room(t); err != nil {
			return err
		}
		return add(t, &p, hash)
	})
	return p.PersonID, err
}

// addRegistrant adds the registered person p, a member of siteID with
// roles.
func (t *txn) addRegistrant(p *api.Person, hash string, siteID int64, roles ...int64) error {
	if err := t.AddPerson(p, hash); err != nil {
		return err
	}
	if err := t.AddPersonToSite(p.PersonID, siteID); err != nil {
		return err
	}
	for _, r := range roles {
		if err := t.AddRoleToPerson(r, p.PersonID); err != nil {
			return err
		}
	}
	return nil
}

// openForRegistration returns the enabled site loginBase if it holds
// fewer than max persons waiting to be enabled.
func (t *txn) openForRegistration(loginBase string, max int) (*api.Site, error) {
	sites, err := t.Sites(condQuery("login_base", loginBase))
	if err != nil {
		return nil, err
	}
	if len(sites) == 0 || !sites[0].Enabled {
		return nil, Faultf(FaultInvalidArg, "site: no enabled site %q", loginBase)
	}
	if len(sites[0].PersonIDs) < max {
		return &sites[0], nil
	}
	persons, err := t.Persons(store.Query{Conds: []store.Cond{{Field: "person_id", Op: store.Eq, Value: anyList(sites[0].PersonIDs)}}})
	if err != nil {
		return nil, err
	}
	pending := slices.DeleteFunc(persons, func(p api.Person) bool { return p.Enabled })
	if len(pending) >= max {
		return nil, Faultf(FaultInvalidArg, "site: %s has %d registrations waiting for its PI already: ask the PI to enable or remove them", loginBase, len(pending))
	}
	return &sites[0], nil
}
