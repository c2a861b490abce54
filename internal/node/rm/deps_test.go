package rm

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/orbisproject/orbis/"

// TestNoBackDoor: central's resource manager reaches slivers only through
// the node manager's interface (paper 4.2.3: it calls acquire and bind as
// any broker would). It links none of the node manager, the sliver runtime
// or the sandbox; and outside the node manager no package calls the sliver
// runtime's lifecycle mutators, so every sliver is made, changed and
// destroyed by the node manager.
func TestNoBackDoor(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"internal/nodemgr", "internal/sliver", "internal/sandbox"} {
			if dep == module+banned || strings.HasPrefix(dep, module+banned+"/") {
				t.Errorf("internal/node/rm depends on %s: a path to slivers around the node manager", dep)
			}
		}
	}
	for _, call := range sliverMutatorCalls(t) {
		t.Errorf("%s: only the node manager may create, change, start, stop or destroy slivers", call)
	}
}

// mutators are the sliver Manager's methods that make, change, run or
// remove a sliver. Restore and Suspend only put back or take away the
// kernel state of slivers the node manager made; Exec runs a login.
var mutators = []string{"Create", "Update", "Start", "Stop", "Destroy"}

type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Export     string
}

// sliverMutatorCalls type-checks every package of the module that imports
// the sliver runtime, except the node manager and the runtime itself, and
// returns the calls of its mutators, as file:line.
func sliverMutatorCalls(t *testing.T) []string {
	cmd := exec.Command("go", "list", "-e", "-export", "-deps", "-json", module+"...")
	cmd.Dir = "../../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := map[string]string{}
	var check []listed
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		exports[p.ImportPath] = p.Export
		skip := strings.HasPrefix(p.ImportPath, module+"internal/sliver") || p.ImportPath == module+"internal/nodemgr"
		if slices.Contains(p.Imports, module+"internal/sliver") && !skip {
			check = append(check, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) { return os.Open(exports[path]) })
	var calls []string
	for _, p := range check {
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		conf := types.Config{Importer: imp, Error: func(error) {}}
		conf.Check(p.ImportPath, fset, files, info)
		for sel, s := range info.Selections {
			fn, ok := s.Obj().(*types.Func)
			if !ok || fn.Pkg() == nil || fn.Pkg().Path() != module+"internal/sliver" || !slices.Contains(mutators, fn.Name()) {
				continue
			}
			if recv := fn.Signature().Recv(); recv != nil && strings.HasSuffix(recv.Type().String(), "sliver.Manager") {
				calls = append(calls, fset.Position(sel.Pos()).String()+" calls "+fn.Name())
			}
		}
	}
	if len(check) == 0 {
		t.Fatal("found no package importing internal/sliver: the check checks nothing")
	}
	return calls
}
