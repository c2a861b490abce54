package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// Benchmarks of GetSlices-like listing and AddSliceToNodes on each
// backend, over 50 nodes and 1,000 slices each on 10 nodes.
func BenchmarkSQLite(b *testing.B)   { runBenchmarks(b, sqliteBackend) }
func BenchmarkPostgres(b *testing.B) { runBenchmarks(b, postgresBackend) }

const (
	benchNodes   = 50
	benchSlices  = 1000
	benchPerNode = 10
)

func runBenchmarks(b *testing.B, be backend) {
	s := be.newStore(b)
	site, nodeIDs, sliceIDs := benchWorld(b, s)
	b.Run("GetSlicesOfNode", func(b *testing.B) {
		n := 0
		for i := 0; b.Loop(); i++ {
			q := store.Query{Conds: []store.Cond{eq("node_ids", nodeIDs[i%benchNodes]), eq("site_id", site)}}
			l := get(b, s, slicesOf, q)
			n += len(l)
		}
		b.ReportMetric(float64(n)/float64(b.N), "slices/op")
	})
	b.Run("GetSlicesByPattern", func(b *testing.B) {
		for b.Loop() {
			get(b, s, slicesOf, store.Query{Conds: []store.Cond{{Field: "name", Op: store.Like, Value: "ex_b1*"}}, Limit: 100})
		}
	})
	b.Run("AddSliceToNodes", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(4) // 4 x GOMAXPROCS concurrent clients
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(next.Add(1))
				ids := make([]int64, benchPerNode)
				for k := range ids {
					ids[k] = nodeIDs[(i/benchSlices*benchPerNode+benchPerNode+k)%benchNodes]
				}
				update(b, s, func(tx store.Tx) error {
					if err := tx.AddSliceToNodes(sliceIDs[i%benchSlices], ids); err != nil {
						return err
					}
					return tx.BumpNodes(ids)
				})
			}
		})
	})
}

// benchWorld makes one site with benchNodes nodes and benchSlices slices,
// slice i on nodes i..i+benchPerNode.
func benchWorld(b *testing.B, s store.Store) (int64, []int64, []int64) {
	var site api.Site
	var nodeIDs, sliceIDs []int64
	update(b, s, func(tx store.Tx) error {
		site = newSite("ex")
		if err := tx.AddSite(&site); err != nil {
			return err
		}
		for i := range benchNodes {
			n := newNode(site.SiteID, fmt.Sprintf("n%d.ex.example", i))
			if err := tx.AddNode(&n); err != nil {
				return err
			}
			nodeIDs = append(nodeIDs, n.NodeID)
		}
		for i := range benchSlices {
			sl := newSlice(site.SiteID, fmt.Sprintf("ex_b%d", i))
			if err := tx.AddSlice(&sl); err != nil {
				return err
			}
			sliceIDs = append(sliceIDs, sl.SliceID)
			ids := make([]int64, benchPerNode)
			for k := range ids {
				ids[k] = nodeIDs[(i+k)%benchNodes]
			}
			if err := tx.AddSliceToNodes(sl.SliceID, ids); err != nil {
				return err
			}
		}
		return nil
	})
	return site.SiteID, nodeIDs, sliceIDs
}
