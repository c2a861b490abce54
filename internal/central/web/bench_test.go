package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// BenchmarkPages times the portal's pages with 1,000 nodes and 10,000
// slices (10 sites; each slice on 3 nodes): a PI's slice list (their
// site's 1,000 slices), a slice's page (its nodes and the 1,000-node
// picker), the nodes table, and an admin's list of all 10,000 slices.
func BenchmarkPages(b *testing.B) {
	tc := startCentralLog(b, slog.New(slog.DiscardHandler))
	loadPortalWorld(b, tc.c.Store, 10, 1000, 10000)
	pi := tc.client(b)
	tc.call(b, "UpdatePerson", "pi@s0.example", map[string]any{"password": testPassword})
	pi.signin("pi@s0.example")
	id := tc.call(b, "AddPerson", map[string]any{"first_name": "A", "last_name": "D", "email": "admin2@orbis.test", "password": testPassword})
	tc.call(b, "UpdatePerson", id, map[string]any{"enabled": true})
	tc.call(b, "AddRoleToPerson", "admin", id)
	admin := tc.client(b)
	admin.signin("admin2@orbis.test")
	for _, page := range []struct {
		name string
		cl   *client
		path string
	}{
		{"PISlices", pi, "/slices"},
		{"Slice", pi, "/slices/s0_slice0"},
		{"SlicePickerFiltered", pi, "/slices/s0_slice0?site=s3&sort=slivers"},
		{"Nodes", pi, "/nodes?sort=slivers"},
		{"NodesWhere", pi, "/nodes?sort=load&where=free_mem%3E1G"},
		{"Node", pi, "/nodes/n1.s0.example"},
		{"AdminSlices", admin, "/slices"},
	} {
		b.Run(page.name, func(b *testing.B) {
			var worst time.Duration
			for b.Loop() {
				t0 := time.Now()
				resp, err := page.cl.http.Get(tc.url + page.path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", page.path, resp.StatusCode)
				}
				worst = max(worst, time.Since(t0))
			}
			b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
		})
	}
}

// loadPortalWorld writes sites (each with a PI), nodes with a day of
// summaries and slices straight through the store.
func loadPortalWorld(b testing.TB, st store.Store, sites, nodes, slices int) {
	var siteIDs, pis, nodeIDs []int64
	err := st.Update(context.Background(), "system", func(tx store.Tx) error {
		for s := range sites {
			base := fmt.Sprintf("s%d", s)
			site := api.Site{Name: "Site " + base, AbbreviatedName: base, LoginBase: base, Enabled: true, MaxSlices: int64(slices), MaxSlivers: int64(slices * nodes), Shares: 1000}
			if err := tx.AddSite(&site); err != nil {
				return err
			}
			p := api.Person{FirstName: "Pi", LastName: base, Email: "pi@" + base + ".example", Enabled: true}
			if err := tx.AddPerson(&p, "unusable"); err != nil {
				return err
			}
			if err := tx.AddPersonToSite(p.PersonID, site.SiteID); err != nil {
				return err
			}
			if err := tx.AddRoleToPerson(api.RolePI, p.PersonID); err != nil {
				return err
			}
			siteIDs, pis = append(siteIDs, site.SiteID), append(pis, p.PersonID)
		}
		for n := range nodes {
			s := n * sites / nodes
			node := api.Node{Hostname: fmt.Sprintf("n%d.s%d.example", n, s), SiteID: siteIDs[s], NodeType: "regular", BootState: "boot", Version: "orbis-1"}
			if err := tx.AddNode(&node); err != nil {
				return err
			}
			nodeIDs = append(nodeIDs, node.NodeID)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().Unix()
	err = st.Update(context.Background(), "system", func(tx store.Tx) error {
		for i, id := range nodeIDs {
			// A day of points for one node, the latest for the others.
			from := int64(0)
			if i == 1 {
				from = api.NodeHistoryPoints - 1
			}
			for k := from; k >= 0; k-- {
				s := api.NodeSummary{NodeID: id, Updated: now - k*api.NodeHistoryStep, Load: float64(i%17) / 4, MemTotal: 16 << 30,
					FreeMem: int64(i%16) << 30, DiskTotal: 1 << 40, FreeDisk: int64(i) << 30, Slivers: 3, BwIn: 1e5, BwOut: 2e5, AgentVersion: "orbis-1"}
				if err := tx.SetNodeSummary(s); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	expires := time.Now().Add(4 * 7 * 24 * time.Hour).Unix()
	for s := range sites {
		err := st.Update(context.Background(), "system", func(tx store.Tx) error {
			for i := s; i < slices; i += sites {
				sl := api.Slice{SiteID: siteIDs[s], Name: fmt.Sprintf("s%d_slice%d", s, i), Instantiation: "plc-instantiated",
					URL: "https://bench.example", Description: "benchmark slice", MaxNodes: int64(nodes), Expires: expires, Shares: 1}
				if err := tx.AddSlice(&sl); err != nil {
					return err
				}
				if err := tx.AddSliceToNodes(sl.SliceID, []int64{nodeIDs[i%nodes], nodeIDs[(i+333)%nodes], nodeIDs[(i+666)%nodes]}); err != nil {
					return err
				}
				if err := tx.AddPersonToSlice(pis[s], sl.SliceID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
