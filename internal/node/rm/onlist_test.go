package rm

import (
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestOnList: each new list reaches Options.OnList at once, already
// persisted (a reader that starts then finds it with LastList).
func TestOnList(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	type seen struct {
		list, persisted api.Slivers
	}
	got := make(chan seen, 16)
	e.onList = func(l api.Slivers) {
		p, err := LastList(e.rmDir)
		if err != nil {
			t.Errorf("LastList in OnList: %v", err)
		}
		got <- seen{l, p}
	}
	e.startRM()
	s := e.sliverOf("pl_alpha", api.Rspec{CPUShares: 1})
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	deadline := time.After(2 * time.Second)
	for {
		select {
		case g := <-got:
			if len(g.list.Slivers) != 1 || g.list.Slivers[0].Name != "pl_alpha" {
				continue // the list before the change
			}
			if g.persisted.Version != g.list.Version {
				t.Errorf("OnList told of version %d before it was persisted (file: %d)", g.list.Version, g.persisted.Version)
			}
			return
		case <-deadline:
			t.Fatal("OnList not told of the new list within 2s")
		}
	}
}
