package plc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// TestDispatch walks a call through every step of Dispatch: each refusal
// names its step and the fault the client sees, the arguments are counted
// before the credentials are checked, and a method's error or panic
// becomes a fault without its detail.
func TestDispatch(t *testing.T) {
	reg := NewRegistry()
	reg.Add(&Method{Name: "Echo", Roles: []string{"user"}, MinArgs: 1, MaxArgs: 1,
		Call: func(_ context.Context, _ *Caller, args []any) (any, error) {
			switch args[0] {
			case "panic":
				panic("secret detail")
			case "conflict":
				return nil, fmt.Errorf("add site: %w", fmt.Errorf("%w: login_base %q exists", store.ErrConflict, "x"))
			case "fail":
				return nil, errors.New("secret detail")
			}
			return args[0], nil
		}})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	user := &Caller{PersonID: 1, Roles: []int64{api.RoleUser}}
	anon := &Caller{Anonymous: true}
	badAuth := Faultf(FaultAuth, "bad password")
	authed := 0
	as := func(c *Caller, err error) func(context.Context) (*Caller, error) {
		return func(context.Context) (*Caller, error) { authed++; return c, err }
	}
	for _, tc := range []struct {
		name   string
		method string
		args   []any
		auth   func(context.Context) (*Caller, error)
		step   Step
		code   int
		msg    string
	}{
		{"unknown", "Nope", nil, as(user, nil), StepFind, FaultInvalidMethod, `unknown method "Nope"`},
		{"args before auth", "Echo", nil, as(nil, badAuth), StepArgs, FaultArgCount, "takes 1 arguments after auth, got 0"},
		{"bad credentials", "Echo", []any{"x"}, as(nil, badAuth), StepAuth, FaultAuth, "bad password"},
		{"no caller", "Echo", []any{"x"}, as(nil, nil), StepAuth, FaultAPI, "internal error in Echo"},
		{"roles", "Echo", []any{"x"}, as(anon, nil), StepRoles, FaultPermission, "Echo is for user"},
		{"store conflict", "Echo", []any{"conflict"}, as(user, nil), StepRun, FaultInvalidArg, `conflict: login_base "x" exists`},
		{"error", "Echo", []any{"fail"}, as(user, nil), StepRun, FaultAPI, "reference"},
		{"panic", "Echo", []any{"panic"}, as(user, nil), StepRun, FaultAPI, "reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			authed = 0
			_, ce := reg.Dispatch(context.Background(), log, Call{Method: tc.method, Args: tc.args, Authenticate: tc.auth})
			if ce == nil || ce.Step != tc.step || ce.Fault.Code != tc.code || !strings.Contains(ce.Fault.Msg, tc.msg) || ce.Method != tc.method {
				t.Fatalf("%+v, want step %d fault %d %q", ce, tc.step, tc.code, tc.msg)
			}
			if strings.Contains(ce.Fault.Msg, "secret") || strings.Contains(ce.Fault.Msg, "add site") {
				t.Errorf("fault shows the detail: %q", ce.Fault.Msg)
			}
			if (tc.step < StepAuth) != (authed == 0) {
				t.Errorf("authenticated %d times at step %d", authed, tc.step)
			}
		})
	}
	got, ce := reg.Dispatch(context.Background(), log, Call{Method: "Echo", Args: []any{"hi"}, Authenticate: as(user, nil)})
	if ce != nil || got != "hi" {
		t.Errorf("Echo: %v, %+v", got, ce)
	}
}
