package sliver

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestCreateStoresSpec: Create stores the spec before it returns, and a
// spec it could not store fails it before any kernel state is set up.
func TestCreateStoresSpec(t *testing.T) {
	testutil.RequireRoot(t)
	n := newNode(t)
	s := n.create("pl_spec", api.Rspec{ProcMax: 32, CPUShares: 3}, "")
	got, err := n.m.readSpec("pl_spec")
	if err != nil {
		t.Fatalf("spec after Create: %v", err)
	}
	if got.UIDBase != s.UIDBase || got.Rspec.CPUShares != 3 {
		t.Errorf("stored spec %+v, want %+v", got, s)
	}

	uidNext += 65536
	bad := Spec{Name: "pl_nospec", UIDBase: uidNext, UIDCount: 65536, Rspec: api.Rspec{ProcMax: 32}}
	// A directory where the spec goes: the spec cannot be stored.
	if err := os.MkdirAll(filepath.Join(n.m.dir(bad.Name), specFile, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := n.m.Create(n.ctx, bad); err == nil {
		t.Error("Create succeeded without storing its spec")
	}
	if _, err := os.Stat(n.m.opts.Fair.UnifiedPath(bad.Name)); !os.IsNotExist(err) {
		t.Errorf("a Create that could not store its spec made the sliver's cgroup: %v", err)
	}
}
