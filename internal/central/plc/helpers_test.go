package plc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// t0 is the tests' starting time: a round hour, in seconds.
const t0 = 1_900_000_800

// env is a Service over a fresh store, with a clock the test moves and a
// record of OnChange calls.
type env struct {
	t     *testing.T
	svc   *plc.Service
	store store.Store
	ctx   context.Context
	clock atomic.Int64 // Unix seconds

	mu      sync.Mutex // mu guards the following
	changed []int64

	admin *plc.Caller
}

type backend func(t *testing.T) store.Store

func sqliteStore(t *testing.T) store.Store {
	s, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "central.db"), testutil.Logger(t))
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func postgresStore(t *testing.T) store.Store {
	s, err := store.OpenPostgres(context.Background(), pgtest.DB(t), testutil.Logger(t))
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newEnv(t *testing.T) *env { return newEnvOn(t, sqliteStore) }

func newEnvOn(t *testing.T, b backend) *env { return newEnvWith(t, b, nil) }

// newEnvWith is newEnvOn with Options changed by opts, if not nil.
func newEnvWith(t *testing.T, b backend, opts func(*plc.Options)) *env {
	t.Helper()
	e := &env{t: t, store: b(t), ctx: testutil.Context(t)}
	e.clock.Store(t0)
	o := plc.Options{
		Store: e.store,
		Log:   testutil.Logger(t),
		Now:   func() time.Time { return time.Unix(e.clock.Load(), 0) },
		OnChange: func(ids []int64) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.changed = append(e.changed, ids...)
		},
	}
	if opts != nil {
		opts(&o)
	}
	svc, err := plc.New(e.ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	if err := e.svc.Bootstrap(e.ctx, "admin@example.org", "admin-password"); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	e.admin = e.login("admin@example.org", "admin-password")
	return e
}

// advance moves the clock.
func (e *env) advance(d time.Duration) { e.clock.Add(int64(d / time.Second)) }

// takeChanged returns and forgets the node ids OnChange was called with.
func (e *env) takeChanged() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := slices.Clone(e.changed)
	e.changed = nil
	slices.Sort(out)
	return slices.Compact(out)
}

// login authenticates with a password through the XML-RPC path.
func (e *env) login(email, pw string) *plc.Caller {
	e.t.Helper()
	c, err := e.svc.Authenticate(e.ctx, map[string]any{"AuthMethod": "password", "Username": email, "AuthString": pw}, "AuthCheck", nil)
	if err != nil {
		e.t.Fatalf("login %s: %v", email, err)
	}
	return c
}

// call runs method as c, checking roles and argument counts as the
// transports do.
func (e *env) call(c *plc.Caller, method string, args ...any) (any, error) {
	e.t.Helper()
	m := e.svc.Registry().Lookup(method)
	if m == nil {
		e.t.Fatalf("no method %s", method)
	}
	return m.Call(e.ctx, c, args)
}

// must runs method and fails the test on an error.
func (e *env) must(c *plc.Caller, method string, args ...any) any {
	e.t.Helper()
	v, err := e.call(c, method, args...)
	if err != nil {
		e.t.Fatalf("%s%v: %v", method, args, err)
	}
	return v
}

// id runs an Add* method and returns the new id.
func (e *env) id(c *plc.Caller, method string, args ...any) int64 {
	e.t.Helper()
	v := e.must(c, method, args...)
	id, ok := v.(int64)
	if !ok || id <= 0 {
		e.t.Fatalf("%s returned %v, want an id", method, v)
	}
	return id
}

// fault checks that err is a fault with code.
func fault(t *testing.T, err error, code int) *plc.Fault {
	t.Helper()
	var f *plc.Fault
	if !errors.As(err, &f) {
		t.Fatalf("got %v, want fault %d", err, code)
	}
	if f.Code != code {
		t.Fatalf("got fault %d %q, want fault %d", f.Code, f.Msg, code)
	}
	return f
}

// records returns a Get* result as a list of structs.
func records(t *testing.T, v any) []map[string]any {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("result %T, want a list", v)
	}
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
	}
	return out
}

// ints collects field from each record.
func ints(t *testing.T, v any, field string) []int64 {
	t.Helper()
	var out []int64
	for _, r := range records(t, v) {
		out = append(out, r[field].(int64))
	}
	slices.Sort(out)
	return out
}

// strs collects a string field from each record.
func strs(t *testing.T, v any, field string) []string {
	t.Helper()
	var out []string
	for _, r := range records(t, v) {
		out = append(out, r[field].(string))
	}
	slices.Sort(out)
	return out
}

// site adds a site with room for slices.
func (e *env) site(loginBase string, maxSlices int64) int64 {
	e.t.Helper()
	return e.id(e.admin, "AddSite", map[string]any{
		"name": "Site " + loginBase, "abbreviated_name": loginBase, "login_base": loginBase, "max_slices": maxSlices,
	})
}

// person adds an enabled person at site (0: none) with roles, and logs
// them in.
func (e *env) person(email string, site int64, roles ...string) *plc.Caller {
	e.t.Helper()
	pid := e.id(e.admin, "AddPerson", map[string]any{
		"first_name": "F", "last_name": email, "email": email, "password": "password-" + email,
	})
	e.must(e.admin, "UpdatePerson", pid, map[string]any{"enabled": true})
	if site != 0 {
		e.must(e.admin, "AddPersonToSite", pid, site)
	}
	for _, r := range roles {
		e.must(e.admin, "AddRoleToPerson", r, pid)
	}
	return e.login(email, "password-"+email)
}

// node adds a node at site.
func (e *env) node(site int64, hostname string) int64 {
	e.t.Helper()
	return e.id(e.admin, "AddNode", site, map[string]any{"hostname": hostname})
}

// world is two sites with a PI, a user and a tech each, and two nodes
// each.
type world struct {
	*env
	siteA, siteB      int64
	piA, userA, techA *plc.Caller
	piB, userB        *plc.Caller
	nodeA1, nodeA2    int64
	nodeB1, nodeB2    int64
}

func newWorld(t *testing.T) *world { return newWorldOn(t, sqliteStore) }

func newWorldOn(t *testing.T, b backend) *world { return newWorldWith(t, b, nil) }

// newWorldWith is newWorldOn with Options changed by opts, if not nil.
func newWorldWith(t *testing.T, b backend, opts func(*plc.Options)) *world {
	e := newEnvWith(t, b, opts)
	w := &world{env: e}
	w.siteA = e.site("alpha", 3)
	w.siteB = e.site("beta", 3)
	w.piA = e.person("pi@alpha.org", w.siteA, "pi")
	w.userA = e.person("user@alpha.org", w.siteA, "user")
	w.techA = e.person("tech@alpha.org", w.siteA, "tech")
	w.piB = e.person("pi@beta.org", w.siteB, "pi")
	w.userB = e.person("user@beta.org", w.siteB, "user")
	w.nodeA1 = e.node(w.siteA, "n1.alpha.org")
	w.nodeA2 = e.node(w.siteA, "n2.alpha.org")
	w.nodeB1 = e.node(w.siteB, "n1.beta.org")
	w.nodeB2 = e.node(w.siteB, "n2.beta.org")
	return w
}
