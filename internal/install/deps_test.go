package install

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryLeavesOutPackaging guards the split between `orbis install`
// (in the binary) and the package builder (debpkg, a build tool): the
// orbis binary never links nfpm and its dependencies.
func TestBinaryLeavesOutPackaging(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/orbis").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !strings.Contains(string(out), "github.com/orbisproject/orbis/internal/install\n") {
		t.Fatal("cmd/orbis does not link package install: the check below sees nothing")
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/goreleaser/") || strings.HasSuffix(d, "/install/debpkg") {
			t.Errorf("cmd/orbis links %s", d)
		}
	}
}
