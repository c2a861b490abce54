package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCLIDependencies guards the rule that the CLI talks to central only
// through its JSON API (package api), and holds no kernel code.
func TestCLIDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/orbisproject/orbis/internal/central",
		"github.com/orbisproject/orbis/internal/cgroup",
		"github.com/vishvananda/netlink",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("internal/cli depends on %s", dep)
			}
		}
	}
}
