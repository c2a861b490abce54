package cli

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoWorkAtInit guards the CLI's start-up time: every run of orbis
// runs the package initialisers of all the code linked into it, most of
// which that run never uses. So no package of this module that orbis
// links may compile a regexp or parse a template in a package-level
// variable's initialiser; it does so on first use (sync.OnceValue).
func TestNoWorkAtInit(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}", "../../cmd/orbis").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	heavy := map[string]bool{"regexp.MustCompile": true, "regexp.Compile": true, "template.Must": true, "template.New": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(path, "github.com/orbisproject/orbis/") {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, file := range files {
			if strings.HasSuffix(file, "_test.go") {
				continue
			}
			for _, call := range initCalls(t, file) {
				if heavy[call.name] {
					t.Errorf("%s: %s in a package-level initialiser runs at every start of orbis; make it lazy", call.pos, call.name)
				}
			}
		}
	}
}

type initCall struct {
	name string
	pos  token.Position
}

// initCalls returns the pkg.Func calls made by the initialisers of the
// package-level variables of file, outside function literals.
func initCalls(t *testing.T, file string) []initCall {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var calls []initCall
	for _, d := range f.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		ast.Inspect(gd, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncLit:
				return false
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok {
						calls = append(calls, initCall{x.Name + "." + sel.Sel.Name, fset.Position(n.Pos())})
					}
				}
			}
			return true
		})
	}
	return calls
}
