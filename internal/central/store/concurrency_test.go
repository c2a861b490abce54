package store_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// testConcurrency has 100 clients create a slice each under one site, add
// it to three nodes (twice), and race for one shared slice name.
func testConcurrency(t *testing.T, b backend) {
	s := b.newStore(t)
	f := seed(t, s, "ex")
	var third api.Node
	update(t, s, func(tx store.Tx) error { third = newNode(f.site.SiteID, "n2.ex.example"); return tx.AddNode(&third) })
	nodeIDs := []int64{f.nodes[0].NodeID, f.nodes[1].NodeID, third.NodeID}

	const clients = 100
	var wg sync.WaitGroup
	var dupWins, dupConflicts atomic.Int64
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- client(t, s, i, nodeIDs, &dupWins, &dupConflicts)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	equal(t, "shared name winners", dupWins.Load(), int64(1))
	equal(t, "shared name conflicts", dupConflicts.Load(), int64(clients-1))

	all := get(t, s, slicesOf, where(store.Cond{Field: "name", Op: store.Like, Value: "ex_c*"}))
	equal(t, "slices", len(all), clients)
	seen := map[string]bool{}
	for _, sl := range all {
		if seen[sl.Name] {
			t.Errorf("slice %s doubled", sl.Name)
		}
		seen[sl.Name] = true
		equal(t, sl.Name+" nodes", sl.NodeIDs, nodeIDs)
	}
	for _, n := range get(t, s, nodes, where(eq("node_id", nodeIDs))) {
		if len(n.SliceIDs) != clients {
			t.Errorf("node %d has %d slices, want %d", n.NodeID, len(n.SliceIDs), clients)
		}
	}
	view(t, s, func(tx store.Tx) error {
		v, err := tx.NodeVersions(nodeIDs)
		for _, id := range nodeIDs {
			if v[id] != clients {
				t.Errorf("node %d version %d, want %d", id, v[id], clients)
			}
		}
		return err
	})
	equal(t, "AddSlice events", len(get(t, s, events, where(eq("action", "AddSlice")))), clients+2)
	equal(t, "AddSliceToNodes events", len(get(t, s, events, where(eq("action", "AddSliceToNodes")))), clients)
}

// client is one of testConcurrency's clients.
func client(t *testing.T, s store.Store, i int, nodeIDs []int64, wins, conflicts *atomic.Int64) error {
	actor := fmt.Sprintf("person %d", i)
	var id int64
	err := s.Update(t.Context(), actor, func(tx store.Tx) error {
		sl := newSlice(1, fmt.Sprintf("ex_c%d", i))
		if err := tx.AddSlice(&sl); err != nil {
			return err
		}
		id = sl.SliceID
		if err := tx.AddSliceToNodes(id, nodeIDs); err != nil {
			return err
		}
		return tx.BumpNodes(nodeIDs)
	})
	if err != nil {
		return fmt.Errorf("client %d: create: %w", i, err)
	}
	if err := s.Update(t.Context(), actor, func(tx store.Tx) error { return tx.AddSliceToNodes(id, nodeIDs) }); err != nil {
		return fmt.Errorf("client %d: add again: %w", i, err)
	}
	err = s.Update(t.Context(), actor, func(tx store.Tx) error { sl := newSlice(1, "ex_shared"); return tx.AddSlice(&sl) })
	switch {
	case err == nil:
		wins.Add(1)
	case errors.Is(err, store.ErrConflict):
		conflicts.Add(1)
	default:
		return fmt.Errorf("client %d: shared name: %w", i, err)
	}
	return nil
}
