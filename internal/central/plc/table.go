package plc

import (
	"context"

	"github.com/orbisproject/orbis/internal/central/store"
)

// Role sets of the method table.
var (
	rolesPersons = []string{"admin", "pi", "user", "tech"}
	rolesAll     = []string{"admin", "pi", "user", "tech", "node"}
	rolesPublic  = []string{"admin", "pi", "user", "tech", "node", "anonymous"}
	rolesAdmin   = []string{"admin"}
	rolesPI      = []string{"admin", "pi"}
	rolesSlice   = []string{"admin", "pi", "user"}
	rolesNodes   = []string{"admin", "pi", "tech"}
	rolesNode    = []string{"admin", "node"}
)

// method is one entry of the table as register writes it.
type method struct {
	name, help string
	sig        []string // result type, then the types after auth
	roles      []string
	min, max   int
	call       func(ctx context.Context, c *Caller, args []any) (any, error)
}

// add puts m in the registry. Its Call checks the caller's roles and the
// argument count again, so that every encoding gets them right.
func (s *Service) add(m method) {
	entry := &Method{
		Name:      m.name,
		Help:      m.help,
		Signature: append([]string{m.sig[0], "struct"}, m.sig[1:]...),
		Roles:     m.roles,
		MinArgs:   m.min,
		MaxArgs:   m.max,
	}
	entry.Call = func(ctx context.Context, c *Caller, args []any) (any, error) {
		if f := entry.Authorize(c); f != nil {
			return nil, f
		}
		if len(args) < m.min || len(args) > m.max {
			return nil, Faultf(FaultArgCount, "%s takes %d to %d arguments after auth, got %d", m.name, m.min, m.max, len(args))
		}
		return m.call(ctx, c, args)
	}
	s.reg.Add(entry)
}

// restriction narrows a Get* to what the caller may see: a condition to
// add, or none (nothing visible), or neither (everything).
type restriction struct {
	conds []store.Cond
	none  bool
}

// getter runs a Get* call: filter (args[0]), return_fields (args[1]), the
// caller's restriction, and the projection of the result.
func getter[T any](s *Service, ctx context.Context, c *Caller, args []any, k *recordKind,
	list func(t *txn, q store.Query) ([]T, error), id func(*T) any,
	restrict func(t *txn) (restriction, error)) (any, error) {
	qs, err := parseFilter(k, optArg(args, 0))
	if err != nil {
		return nil, err
	}
	fields, err := parseReturnFields(k, optArg(args, 1))
	if err != nil {
		return nil, err
	}
	var recs []T
	err = s.view(ctx, c, func(t *txn) error {
		qs := qs
		if restrict != nil {
			r, err := restrict(t)
			if err != nil || r.none {
				return err
			}
			for _, c := range r.conds {
				qs = withCond(qs, c)
			}
		}
		recs, err = runQueries(qs, func(q store.Query) ([]T, error) { return list(t, q) }, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return project(k, recs, fields), nil
}

// inRestriction restricts field to ids, or to nothing if ids is empty;
// all lifts it.
func inRestriction(field string, ids []any, all bool) restriction {
	switch {
	case all:
		return restriction{}
	case len(ids) == 0:
		return restriction{none: true}
	}
	return restriction{conds: []store.Cond{{Field: field, Op: store.Eq, Value: ids}}}
}
