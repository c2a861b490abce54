package rawfd

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestPortsOfAll: with Config.PortsOfAll, the periodic sync asks it once
// for every served slice (one reading of the node's sockets, not one per
// slice) and gives each slice the ports it says.
func TestPortsOfAll(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	var asked [][]string
	srv, err := New(Config{
		Ports: func(string) ([]Port, error) { return nil, nil },
		PortsOfAll: func(names []string) (map[string][]Port, error) {
			mu.Lock()
			defer mu.Unlock()
			asked = append(asked, slices.Sorted(slices.Values(names)))
			all := map[string][]Port{}
			for _, n := range names {
				all[n] = []Port{{17, 6000}}
			}
			return all, nil
		},
		NetNS: p.SendNS, SyncEvery: 50 * time.Millisecond, Log: testutil.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	var names []string
	for i, index := range []uint32{61, 62} {
		s := newSlice(t, srv, p.SendNS, index)
		var keep testutil.Buffer
		s.start(t, &keep, "listen", "1", "30", "keep"+string(rune('a'+i)))
		waitFor(t, &keep, "ready")
		names = append(names, s.Name)
	}
	slices.Sort(names)
	hasPort := func(name string) bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		st := srv.slices[name]
		return st != nil && st.ports[Port{17, 6000}]
	}
	deadline := time.Now().Add(5 * time.Second)
	for !(hasPort(names[0]) && hasPort(names[1])) {
		if time.Now().After(deadline) {
			t.Fatal("the sync did not give the slices the ports PortsOfAll said")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(asked, func(a []string) bool { return slices.Equal(a, names) }) {
		t.Errorf("PortsOfAll was asked %v, never for both slices %v at once", asked, names)
	}
}
