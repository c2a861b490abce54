package nodemgr

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestCheckedRspecMadeAtEdge: outside tests, only the functions named in
// makers build a checkedRspec (a literal or a conversion), so every rspec
// the records and the ledger hold went through checkRspec or was derived
// from one that did.
func TestCheckedRspecMadeAtEdge(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				var typ ast.Expr
				switch n := n.(type) {
				case *ast.CompositeLit:
					if len(n.Elts) > 0 { // the zero value holds nothing
						typ = n.Type
					}
				case *ast.CallExpr:
					typ = n.Fun
				}
				if id, ok := typ.(*ast.Ident); ok && id.Name == "checkedRspec" && !slices.Contains(makers, fn.Name.Name) {
					t.Errorf("%s: %s makes a checkedRspec; only %v may", fset.Position(n.Pos()), fn.Name.Name, makers)
				}
				return true
			})
		}
	}
}

// TestEdgeRunsTableChecks: what the resource table refuses (api.Validate)
// is refused at every entry point with the table's message, before
// anything is recorded: acquire, amend and split.
func TestEdgeRunsTableChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rc := e.acquire(api.Rspec{CPUGuarantee: 100, Ports: []api.Port{{Proto: "tcp", Port: 8080}}})
	list := func() api.NMList {
		l, err := e.m.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	bad := []api.Rspec{
		{CPUShares: api.MaxCPUShares + 1},
		{MemoryGuarantee: 10, MemoryMax: 5},
		{CPUCap: true},
		{BindSlices: []string{"Not A Name"}},
		// Only the table's check sees a pair broken inside a delegation.
		{Privileges: api.Privileges{NodeManager: true}, Delegated: &api.Rspec{MemoryGuarantee: 10, MemoryMax: 5}},
	}
	before := list()
	for _, rs := range bad {
		want := api.Validate(&rs)
		if want == nil {
			t.Fatalf("the table takes %+v", rs)
		}
		for op, call := range map[string]func() error{
			"acquire": func() error { _, err := e.m.Acquire(ctx, rs); return err },
			"amend":   func() error { return e.m.Amend(ctx, rc, rs) },
			"split":   func() error { _, err := e.m.Split(ctx, rc, rs); return err },
		} {
			err := call()
			field, _, _ := strings.Cut(want.Error(), ":")
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), field+":") {
				t.Errorf("%s %+v = %v, want invalid %s (%v)", op, rs, err, field, want)
			}
		}
	}
	if after := list(); len(after.Rcaps) != len(before.Rcaps) || after.Rcaps[0].Rspec.CPUGuarantee != 100 {
		t.Errorf("a refused request changed the records: %+v", after.Rcaps)
	}
}
