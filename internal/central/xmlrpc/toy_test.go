package xmlrpc

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

// everyone is every role, for methods anyone may call.
var everyone = []string{"admin", "pi", "user", "tech", "node", "anonymous"}

// toyRegistry is a small method table standing in for the core's.
func toyRegistry() *plc.Registry {
	reg := plc.NewRegistry()
	add := func(name, help string, roles []string, lo, hi int, call func(context.Context, *plc.Caller, []any) (any, error)) {
		reg.Add(&plc.Method{Name: name, Help: help, Roles: roles, MinArgs: lo, MaxArgs: hi, Call: call,
			Signature: []string{"array", "struct"}})
	}
	add("Echo", "Returns its arguments <as a list>.", everyone, 0, 20,
		func(_ context.Context, _ *plc.Caller, args []any) (any, error) { return args, nil })
	add("EchoOne", "Returns its argument.", everyone, 1, 1,
		func(_ context.Context, _ *plc.Caller, args []any) (any, error) { return args[0], nil })
	add("AdminOnly", "For admins.", []string{"admin"}, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) { return 1, nil })
	add("Fail", "Fails with the fault code given.", everyone, 1, 1, failMethod)
	add("Boom", "Fails with an internal error.", everyone, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) {
			return nil, errors.New("query sites: dial postgres://central:hunter2@db/central: refused")
		})
	add("Panic", "Panics.", everyone, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) { panic("kaboom hunter2") })
	add("Conflict", "Fails with a store conflict.", everyone, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) {
			return nil, fmt.Errorf("add site: update: %w", fmt.Errorf("%w: login_base %q exists", store.ErrConflict, "x"))
		})
	add("Unencodable", "Returns what XML-RPC cannot carry.", everyone, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) { return make(chan int), nil })
	add("Cycle", "Returns a cyclic value.", everyone, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) { a := []any{nil}; a[0] = a; return a, nil })
	add("Records", "Returns API records.", everyone, 0, 0,
		func(context.Context, *plc.Caller, []any) (any, error) { return toyRecords(), nil })
	add("WhoAmI", "Describes the caller.", everyone, 0, 0,
		func(ctx context.Context, c *plc.Caller, _ []any) (any, error) {
			return map[string]any{"person_id": c.PersonID, "node_id": c.NodeID, "roles": c.RoleNames(), "addr": plc.ClientAddr(ctx)}, nil
		})
	reg.Add(&plc.Method{Name: "NoSignature", Roles: everyone, Call: func(context.Context, *plc.Caller, []any) (any, error) { return nil, nil }})
	return reg
}

func failMethod(_ context.Context, _ *plc.Caller, args []any) (any, error) {
	code, ok := args[0].(int64)
	if !ok {
		return nil, plc.Faultf(plc.FaultInvalidArg, "code must be an int, got %T", args[0])
	}
	return nil, plc.Faultf(int(code), "failed as asked with %d", code)
}

// toyRecords is what Records returns.
func toyRecords() map[string]any {
	lat := 48.85
	return map[string]any{
		"big":   int64(1) << 40,
		"sites": []api.Site{{SiteID: 1, Name: "Site <One> & co", LoginBase: "one", Latitude: &lat, PersonIDs: []int64{1, 2}}},
		"slivers": api.Slivers{NodeID: 3, Slivers: []api.Sliver{{
			Name: "one_s", Rspec: api.Rspec{CPUShares: 5, Ports: []api.Port{{Proto: "tcp", Port: 8080}}},
		}}},
	}
}

// fakeAuth is a toy authenticator that records what it was asked.
type fakeAuth struct {
	mu sync.Mutex
	// mu guards the following
	method string
	args   []any
	addr   string
}

var toyPersons = map[string]*plc.Caller{
	"admin@x": {PersonID: 1, Roles: []int64{10}},
	"pi@x":    {PersonID: 2, Roles: []int64{20}},
	"user@x":  {PersonID: 3, Roles: []int64{30}},
}

func (a *fakeAuth) Authenticate(ctx context.Context, auth map[string]any, method string, args []any) (*plc.Caller, error) {
	a.mu.Lock()
	a.method, a.args, a.addr = method, args, plc.ClientAddr(ctx)
	a.mu.Unlock()
	switch auth["AuthMethod"] {
	case "anonymous":
		return &plc.Caller{Anonymous: true}, nil
	case "password":
		user, _ := auth["Username"].(string)
		if c, ok := toyPersons[user]; ok && auth["AuthString"] == "secret" {
			return c, nil
		}
		return nil, plc.Faultf(plc.FaultAuth, "wrong username or password")
	case "hmac":
		id, _ := auth["node_id"].(int64)
		return &plc.Caller{NodeID: id}, nil
	case "explode":
		return nil, errors.New("session store: postgres://central:hunter2@db down")
	}
	return nil, plc.Faultf(plc.FaultAuth, "unknown AuthMethod")
}

func (a *fakeAuth) last() (string, []any, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.method, a.args, a.addr
}

// toyServer serves the toy registry on 127.0.0.1.
func toyServer(t *testing.T) (*httptest.Server, *Client, *fakeAuth) {
	t.Helper()
	auth := &fakeAuth{}
	srv := httptest.NewServer(New(toyRegistry(), auth, testutil.Logger(t)))
	t.Cleanup(srv.Close)
	return srv, NewClient(srv.URL + "/PLCAPI/"), auth
}

var (
	adminAuth = PasswordAuth("admin@x", "secret")
	userAuth  = PasswordAuth("user@x", "secret")
	anonAuth  = AnonymousAuth()
)
