package central_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
)

// BenchmarkAPI measures PLCAPI throughput (XML-RPC over loopback HTTP, the
// whole stack) on SQLite and on PostgreSQL, over 10 sites, 1,000 nodes and
// 1,000 slices each on 10 nodes. Eight clients call at once with one
// admin session, so password hashing is not what is measured.
func BenchmarkAPI(b *testing.B) {
	backends := []struct {
		name string
		db   func(testing.TB) string
	}{
		{"sqlite", func(testing.TB) string { return "" }},
		{"postgres", pgtest.DB},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { benchAPI(b, be.db(b)) })
	}
}

// benchParallelism times GOMAXPROCS clients call at once (8 on the
// 2-core development machine).
const benchParallelism = 4

func benchAPI(b *testing.B, db string) {
	tc := startCentralWith(b, central.Config{DB: db, Log: benchLog()})
	w := loadWorld(b, tc.c.Store, worldSpec{sites: 10, nodes: 1000, slices: 1000, perSlice: 10})
	clients, auth := sessionClients(b, tc)
	// call returns how many records the answer holds.
	call := func(b *testing.B, rpc *xmlrpc.Client, method string, args ...any) int {
		r, err := rawCall(rpc, auth, method, args...)
		if err != nil {
			b.Errorf("%s: %v", method, err)
		}
		return bytes.Count(r, []byte("<name>slice_id</name>"))
	}
	b.Run("GetSlices/name", func(b *testing.B) {
		parallelCalls(b, clients, func(rpc *xmlrpc.Client, i int) {
			if n := call(b, rpc, "GetSlices", []any{w.names[i%len(w.names)]}); n != 1 {
				b.Errorf("GetSlices by name: %d slices, want 1", n)
			}
		})
	})
	b.Run("GetSlices/site", func(b *testing.B) {
		parallelCalls(b, clients, func(rpc *xmlrpc.Client, i int) {
			n := call(b, rpc, "GetSlices", map[string]any{"site_id": w.siteIDs[i%len(w.siteIDs)]})
			if n != len(w.names)/len(w.siteIDs) {
				b.Errorf("GetSlices of a site: %d slices, want %d", n, len(w.names)/len(w.siteIDs))
			}
		})
	})
	b.Run("GetSlices/all", func(b *testing.B) {
		parallelCalls(b, clients, func(rpc *xmlrpc.Client, _ int) {
			if n := call(b, rpc, "GetSlices"); n != len(w.names) {
				b.Errorf("GetSlices: %d slices, want %d", n, len(w.names))
			}
		})
	})
	var added atomic.Int64 // calls made, over every run of the benchmark
	b.Run("AddSliceToNodes", func(b *testing.B) {
		parallelCalls(b, clients, func(rpc *xmlrpc.Client, _ int) {
			// Call i adds slice i%slices to 10 nodes it is not on yet
			// (for the first 99 rounds over the slices).
			i := int(added.Add(1) - 1)
			slice, round := i%len(w.names), i/len(w.names)+1
			hosts := make([]any, w.perSlice)
			for k, n := range w.sliceNodes(slice) {
				hosts[k] = w.hosts[(n+round)%len(w.hosts)]
			}
			call(b, rpc, "AddSliceToNodes", w.names[slice], hosts)
		})
	})
}

// parallelCalls runs call(rpc, i) for b.N values of i from
// benchParallelism times GOMAXPROCS goroutines, each with its own client
// of clients, and reports calls/s.
func parallelCalls(b *testing.B, clients []*xmlrpc.Client, call func(rpc *xmlrpc.Client, i int)) {
	var next, goroutines atomic.Int64
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rpc := clients[int(goroutines.Add(1)-1)%len(clients)]
		for pb.Next() {
			call(rpc, int(next.Add(1)-1))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// sessionClients returns XML-RPC clients, each calling from its own
// loopback address, and the auth struct of one admin session.
//
// Each client has its own address because central counts every session
// call as a login attempt of its client address until it succeeds, and
// more than 5 at once from one address are refused (fault 103 "too many
// failed attempts") though none failed.
func sessionClients(b *testing.B, tc *testCentral) ([]*xmlrpc.Client, map[string]any) {
	session := tc.callB(b, "GetSession").(string)
	clients := make([]*xmlrpc.Client, benchParallelism*runtime.GOMAXPROCS(0))
	for i := range clients {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}}
		hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 4}}
		b.Cleanup(hc.CloseIdleConnections)
		clients[i] = &xmlrpc.Client{URL: tc.url + "/PLCAPI/", HTTP: hc}
	}
	return clients, xmlrpc.SessionAuth(session)
}

// rawCall calls method with auth and args and returns the answer
// undecoded (a fault as an error): the clients share the CPUs with
// central, and decoding big answers with encoding/xml costs them more than
// central spends making them.
func rawCall(rpc *xmlrpc.Client, auth map[string]any, method string, args ...any) ([]byte, error) {
	body, err := xmlrpc.EncodeCall(method, append([]any{auth}, args...)...)
	if err != nil {
		return nil, err
	}
	resp, err := rpc.HTTP.Post(rpc.URL, "text/xml", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, err
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	case bytes.Contains(data[:min(len(data), 200)], []byte("<fault>")):
		_, err := xmlrpc.DecodeResponse(bytes.NewReader(data))
		return nil, err
	}
	return data, nil
}

// benchLog is central's logger in benchmarks: warnings only, as a
// production central would not log every call either.
func benchLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// worldSpec is the shape of a benchmark's records.
type worldSpec struct {
	sites, nodes, slices int
	// perSlice is how many nodes each slice is on.
	perSlice int
}

// world is what loadWorld made: ids and names by index.
type world struct {
	worldSpec
	siteIDs, nodeIDs []int64
	hosts, secrets   []string
	names            []string // slice names
}

// sliceNodes returns the indexes of the nodes slice i is on: perSlice
// nodes spread evenly over all of them, so every node has
// slices*perSlice/nodes slivers.
func (w *world) sliceNodes(i int) []int {
	out := make([]int, w.perSlice)
	for k := range out {
		out[k] = (i + k*(w.nodes/w.perSlice)) % w.nodes
	}
	return out
}

// loadWorld writes the records of spec straight through the store, in a
// transaction per site: each site has its share of the nodes (each with a
// secret) and of the slices, and a PI with an SSH key who is a member of
// every slice of the site. Every tenth slice has a tag.
func loadWorld(tb testing.TB, st store.Store, spec worldSpec) *world {
	tb.Helper()
	w := &world{worldSpec: spec}
	pis := make([]int64, spec.sites)
	err := st.Update(context.Background(), "system", func(tx store.Tx) error {
		w.siteIDs, w.nodeIDs, w.hosts, w.secrets = nil, nil, nil, nil
		for s := range spec.sites {
			if err := w.addSite(tx, s, &pis[s]); err != nil {
				return err
			}
		}
		for n := range spec.nodes {
			if err := w.addNode(tx, n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("load sites and nodes: %v", err)
	}
	w.names = make([]string, spec.slices)
	expires := time.Now().Add(8 * 7 * 24 * time.Hour).Unix()
	for s := range spec.sites {
		err := st.Update(context.Background(), "system", func(tx store.Tx) error {
			for i := s; i < spec.slices; i += spec.sites {
				if err := w.addSlice(tx, i, pis[s], expires); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("load slices of site %d: %v", s, err)
		}
	}
	return w
}

func (w *world) addSite(tx store.Tx, s int, pi *int64) error {
	base := fmt.Sprintf("s%d", s)
	site := api.Site{Name: "Site " + base, AbbreviatedName: base, LoginBase: base, IsPublic: true, Enabled: true,
		URL: "https://" + base + ".example", MaxSlices: int64(w.slices), MaxSlivers: int64(w.slices * w.nodes), Shares: 1000}
	if err := tx.AddSite(&site); err != nil {
		return err
	}
	w.siteIDs = append(w.siteIDs, site.SiteID)
	p := api.Person{FirstName: "Pi", LastName: base, Email: "pi@" + base + ".example", Enabled: true}
	if err := tx.AddPerson(&p, "unusable"); err != nil {
		return err
	}
	*pi = p.PersonID
	if err := tx.AddPersonToSite(p.PersonID, site.SiteID); err != nil {
		return err
	}
	if err := tx.AddRoleToPerson(api.RolePI, p.PersonID); err != nil {
		return err
	}
	return tx.AddKey(&api.Key{KeyType: "ssh", PersonID: p.PersonID,
		Key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBench0 pi@" + base})
}

func (w *world) addNode(tx store.Tx, n int) error {
	site := n * len(w.siteIDs) / w.nodes
	node := api.Node{Hostname: fmt.Sprintf("n%d.s%d.example", n, site), SiteID: w.siteIDs[site], NodeType: "regular",
		BootState: "boot", Version: "orbis-1", IP: fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)}
	if err := tx.AddNode(&node); err != nil {
		return err
	}
	secret := fmt.Sprintf("bench-secret-%d", node.NodeID)
	w.nodeIDs, w.hosts, w.secrets = append(w.nodeIDs, node.NodeID), append(w.hosts, node.Hostname), append(w.secrets, secret)
	return tx.SetNodeSecret(node.NodeID, secret)
}

// addSlice adds slice i to site i%sites, on its nodes, with the site's PI.
func (w *world) addSlice(tx store.Tx, i int, pi, expires int64) error {
	site := i % len(w.siteIDs)
	sl := api.Slice{SiteID: w.siteIDs[site], Name: fmt.Sprintf("s%d_slice%d", site, i), Instantiation: "plc-instantiated",
		URL: "https://bench.example", Description: "benchmark slice", MaxNodes: int64(w.nodes), Expires: expires, Shares: 1}
	if err := tx.AddSlice(&sl); err != nil {
		return err
	}
	w.names[i] = sl.Name
	ids := make([]int64, 0, w.perSlice)
	for _, n := range w.sliceNodes(i) {
		ids = append(ids, w.nodeIDs[n])
	}
	if err := tx.AddSliceToNodes(sl.SliceID, ids); err != nil {
		return err
	}
	if err := tx.AddPersonToSlice(pi, sl.SliceID); err != nil {
		return err
	}
	if i%10 == 0 {
		return tx.AddSliceTag(&api.SliceTag{SliceID: sl.SliceID, TagName: "net_max_rate", Value: "2000"})
	}
	return nil
}
