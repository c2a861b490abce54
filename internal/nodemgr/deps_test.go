package nodemgr

import (
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// allowedDeps are the only packages of the module the node manager may
// depend on, besides api (its wire types). Each is small, imports nothing
// else of the module, and holds no kernel or sliver code:
var allowedDeps = map[string]string{
	"api":                 "the wire types: rspecs, rcaps, sliver specs and states",
	"internal/errkind":    "the kinds of failure and their HTTP statuses",
	"internal/httpserve":  "serving the API on a Unix socket for as long as a context lasts",
	"internal/peercred":   "who called, as the kernel vouches for it (SO_PEERCRED)",
	"internal/atomicfile": "crash-safe record writes (write, fsync, rename, fsync directory)",
}

// TestNodeManagerDependencies guards the rule that the node manager
// depends on api and its own Runtime interface only: the sliver runtime
// (and through it the sandbox, cgroups, disks and images) is handed to it
// by the node, which adapts it (internal/node/runtime_adapter.go). Tests
// may link more; the package itself may not.
func TestNodeManagerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	const self = module + "internal/nodemgr"
	seen := 0
	for _, dep := range strings.Fields(string(out)) {
		rel, ours := strings.CutPrefix(dep, module)
		if !ours || dep == self {
			continue
		}
		if _, ok := allowedDeps[rel]; !ok {
			t.Errorf("internal/nodemgr depends on %s: only api and %v may be", dep, keys(allowedDeps))
		}
		seen++
	}
	if seen == 0 {
		t.Fatal("go list found no dependency of the module at all (not even api): the check checks nothing")
	}
}

// module is this module's import path prefix.
const module = "github.com/orbisproject/orbis/"

func keys(m map[string]string) []string {
	return slices.DeleteFunc(slices.Sorted(maps.Keys(m)), func(k string) bool { return k == "api" })
}
