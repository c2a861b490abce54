package testutil

import (
	"os/exec"
	"strings"
	"testing"
)

// Module is the import path of Orbis's module.
const Module = "github.com/orbisproject/orbis"

// ForbidDeps fails t if the package in the test's directory links,
// directly or through others, a package of forbidden (paths in the
// module, such as "internal/cli") or one below it; why says what the rule
// keeps apart. It is how architecture tests state which way dependencies
// point. The packages' tests do not count: they link what they test with.
func ForbidDeps(t testing.TB, why string, forbidden ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list listed no dependency: the check checks nothing")
	}
	self := deps[len(deps)-1]
	for _, dep := range deps {
		for _, f := range forbidden {
			f = Module + "/" + f
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("%s links %s: %s", self, dep, why)
			}
		}
	}
}
