package plc

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/orbisproject/orbis/internal/central/store"
)

// Options configure a Service.
type Options struct {
	// Store keeps the records.
	Store store.Store
	// Log receives what the service does; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// SiteShares is how many shares each new site receives (default 1000).
	SiteShares int64
	// SessionTTL is how long a person's session lasts (default 24 h).
	SessionTTL time.Duration
	// TokenTTL is how long a JSON API token from Login lasts (default 30
	// days).
	TokenTTL time.Duration
	// MaxWriters bounds the read-write transactions this service runs at
	// once (default 4): past a few, concurrent transactions on the same
	// slices only abort each other (PostgreSQL serialization failures) or
	// queue for SQLite's one writer.
	MaxWriters int
	// Login throttles failed password logins (see LoginLimits).
	Login LoginLimits
	// MaxPending bounds the self-registered persons waiting at one site
	// (RegisterPerson; default DefaultMaxPending).
	MaxPending int
	// MaxLeaseLength bounds one lease, after rounding to the hour
	// (default DefaultMaxLeaseLength).
	MaxLeaseLength time.Duration
	// MaxSessions bounds the sessions one person or node holds (default
	// DefaultMaxSessions); past it, a new one ends the one that would
	// expire first.
	MaxSessions int
	// CentralURL is central's URL as nodes reach it, and CAHash the hash
	// of its CA (api.CAHash; "" when central serves plain HTTP or a
	// certificate of a CA the system trusts): GenerateNodeConfFile writes
	// them into a node's configuration.
	CentralURL, CAHash string
	// Mailer sends the mails of NotifyPersons, NotifySupport and
	// ResetPassword; nil (no relay) refuses the first two and logs
	// ResetPassword's link, as the portal does.
	Mailer Mailer
	// OnChange is called after a commit that changed what some nodes
	// should run, with their ids (also with the ids of deleted nodes, so
	// their waiting requests end).
	OnChange func(nodeIDs []int64)
}

// Service is central's core: the methods of PLCAPI over a Store, with
// authentication, roles and policy.
type Service struct {
	store      store.Store
	log        *slog.Logger
	now        func() time.Time
	siteShares int64
	sessionTTL time.Duration
	tokenTTL   time.Duration
	maxPending int
	// maxLeaseLength is Options.MaxLeaseLength in seconds, at least
	// LeaseGranularity.
	maxLeaseLength int64
	maxSessions    int
	onChange       func([]int64)
	centralURL     string
	mailer         Mailer
	caHash         string
	reg            *Registry

	limiter *limiter
	gates   *sourceGates
	pw      *pwCache
	// hashSlots bounds the password hashes computed at once: each takes
	// argon2's memory.
	hashSlots chan struct{}
	// writeSlots bounds concurrent read-write transactions.
	writeSlots chan struct{}
	// expiryWake tells ExpireLoop that a slice's expiry changed.
	expiryWake chan struct{}
	// leases is LeaseTick's memory of its last pass (reservation.go).
	leases leaseClock
}

// Defaults of Options.
const (
	DefaultSiteShares = 1000
	DefaultSessionTTL = 24 * time.Hour
	DefaultTokenTTL   = 30 * 24 * time.Hour
	DefaultMaxWriters = 4
)

// New returns a Service over opts.Store, with the resource table's tag
// types written into it (seedTagTypes); an error if they cannot be.
func New(ctx context.Context, opts Options) (*Service, error) {
	s := &Service{
		store:          opts.Store,
		log:            opts.Log,
		now:            opts.Now,
		siteShares:     opts.SiteShares,
		sessionTTL:     opts.SessionTTL,
		tokenTTL:       opts.TokenTTL,
		maxPending:     cmp.Or(opts.MaxPending, DefaultMaxPending),
		maxLeaseLength: int64(max(cmp.Or(opts.MaxLeaseLength, DefaultMaxLeaseLength), time.Duration(LeaseGranularity)*time.Second) / time.Second),
		maxSessions:    max(cmp.Or(opts.MaxSessions, DefaultMaxSessions), 1),
		onChange:       opts.OnChange,
		centralURL:     opts.CentralURL,
		mailer:         opts.Mailer,
		caHash:         opts.CAHash,
		limiter:        newLimiter(opts.Login),
		gates:          newSourceGates(),
		pw:             newPWCache(),
		hashSlots:      make(chan struct{}, max(1, runtime.NumCPU())),
		expiryWake:     make(chan struct{}, 1),
	}
	if opts.MaxWriters <= 0 {
		opts.MaxWriters = DefaultMaxWriters
	}
	s.writeSlots = make(chan struct{}, opts.MaxWriters)
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.siteShares == 0 {
		s.siteShares = DefaultSiteShares
	}
	if s.sessionTTL == 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	if s.tokenTTL == 0 {
		s.tokenTTL = DefaultTokenTTL
	}
	s.reg = NewRegistry()
	s.register()
	if err := s.seedTagTypes(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Registry returns the table of every method.
func (s *Service) Registry() *Registry { return s.reg }

// txn is one transaction as the methods see it: the store's Tx, the
// caller, the time of the call, and the nodes whose lists the call
// changed.
type txn struct {
	store.Tx
	s   *Service
	c   *Caller
	now int64
	// bumped nodes get a new list version at commit; notified nodes
	// (bumped ones and deleted ones) are passed to OnChange after it.
	bumped   []int64
	notified []int64
}

// bump marks nodes whose sliver lists the transaction changes.
func (t *txn) bump(ids ...int64) {
	t.bumped = append(t.bumped, ids...)
	t.notified = append(t.notified, ids...)
}

// update runs fn in a read-write transaction for c, then bumps the nodes
// it marked and, after the commit, tells OnChange.
func (s *Service) update(ctx context.Context, c *Caller, fn func(t *txn) error) error {
	var notified []int64
	run := func(tx store.Tx) error {
		t := &txn{Tx: tx, s: s, c: c, now: s.now().Unix()}
		if err := fn(t); err != nil {
			return err
		}
		notified = dedupe(t.notified)
		if b := dedupe(t.bumped); len(b) > 0 {
			return tx.BumpNodes(b)
		}
		return nil
	}
	var err error
	for round := 1; ; round++ {
		if err = s.updateOnce(ctx, c, run); !serializationFailure(err) || round == updateRounds {
			break
		}
		s.log.Warn("transaction kept conflicting, trying again", "round", round, "err", err)
		select {
		case <-time.After(time.Duration(round) * (20*time.Millisecond + time.Duration(mrand.Int64N(int64(80*time.Millisecond))))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return s.dbError(err)
	}
	if len(notified) > 0 && s.onChange != nil {
		s.onChange(notified)
	}
	return nil
}

// updateRounds is how many times update gives the store's own retries
// another go when a transaction keeps failing to serialize (PostgreSQL
// under heavy contention for the same slices).
const updateRounds = 4

// updateOnce runs one store.Update within a write slot.
func (s *Service) updateOnce(ctx context.Context, c *Caller, run func(store.Tx) error) error {
	select {
	case s.writeSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.writeSlots }()
	return s.store.Update(ctx, c.Actor(), run)
}

// serializationFailure reports a PostgreSQL serialization failure or
// deadlock (SQLSTATE 40001, 40P01) that the store's retries gave up on.
func serializationFailure(err error) bool {
	var st interface{ SQLState() string }
	if err == nil || !errors.As(err, &st) {
		return false
	}
	return st.SQLState() == "40001" || st.SQLState() == "40P01"
}

// view runs fn in a read-only snapshot for c.
func (s *Service) view(ctx context.Context, c *Caller, fn func(t *txn) error) error {
	err := s.store.View(ctx, func(tx store.Tx) error {
		return fn(&txn{Tx: tx, s: s, c: c, now: s.now().Unix()})
	})
	return s.dbError(err)
}

// dbError passes faults, the store's errors caused by the request
// (conflict, not found, invalid field) and cancellations on, and turns
// any other error into fault 106 with a reference to the logged detail.
func (s *Service) dbError(err error) error {
	var f *Fault
	switch {
	case err == nil, errors.As(err, &f):
		return err
	case errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidField):
		return Faultf(FaultInvalidArg, "%s", err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	ref := randomHex(4)
	s.log.Error("database error", "ref", ref, "err", err)
	return Faultf(FaultDB, "database error (reference %s in central's log)", ref)
}

func dedupe(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

func contains(ids []int64, id int64) bool { return slices.Contains(ids, id) }

func intersects(a, b []int64) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
