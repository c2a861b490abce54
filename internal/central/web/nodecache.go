package web

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/plc"
)

// DefaultNodeCacheTTL is how long the portal reuses the node list and
// summaries it read: both are the same for every caller (GetNodes and
// GetNodeSummaries restrict nothing by role), and at 1,000 nodes reading
// them is most of a page's time.
const DefaultNodeCacheTTL = 2 * time.Second

// nodeCache holds the latest node list and summaries read through the
// method table.
type nodeCache struct {
	ttl time.Duration
	// mu guards the following; it is held while one request reads, so
	// concurrent pages wait for that read instead of repeating it.
	mu    sync.Mutex
	nodes []api.Node
	sums  map[int64]api.NodeSummary
	at    time.Time
	// sites are every site's siteCacheFields, read at sitesAt.
	sites   []api.Site
	sitesAt time.Time
}

// siteCacheFields are the site fields pages take from the cache: GetSites
// restricts nothing by role either, and a site's record with its lists
// (a thousand slices each) was a large part of the slice pages' time.
var siteCacheFields = []any{"site_id", "name", "login_base", "latitude", "longitude", "enabled"}

// allSites returns every site's siteCacheFields, as GetSites answers c,
// from a read at most the cache's TTL old. The caller must not change
// them.
func (p *Portal) allSites(ctx context.Context, c *plc.Caller) ([]api.Site, error) {
	m := p.reg.Lookup("GetSites")
	if m == nil {
		return nil, plc.Faultf(plc.FaultInvalidMethod, "GetSites: no such method")
	}
	if f := m.Authorize(c); f != nil {
		return nil, f
	}
	nc := &p.nodeCache
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if now := p.now(); nc.sites != nil && now.Sub(nc.sitesAt) < nc.ttl && !now.Before(nc.sitesAt) {
		return nc.sites, nil
	}
	var sites []api.Site
	if err := p.call(ctx, c, "GetSites", &sites, nil, siteCacheFields); err != nil {
		return nil, err
	}
	if sites == nil {
		sites = []api.Site{}
	}
	nc.sites, nc.sitesAt = sites, p.now()
	return sites, nil
}

// allNodes returns every node and its summary, as GetNodes and
// GetNodeSummaries answer c, from a read at most the cache's TTL old. The
// caller must not change them. c must be allowed to call both methods,
// as for an uncached call.
func (p *Portal) allNodes(ctx context.Context, c *plc.Caller) ([]api.Node, map[int64]api.NodeSummary, error) {
	for _, name := range []string{"GetNodes", "GetNodeSummaries"} {
		m := p.reg.Lookup(name)
		if m == nil {
			return nil, nil, plc.Faultf(plc.FaultInvalidMethod, "%s: no such method", name)
		}
		if f := m.Authorize(c); f != nil {
			return nil, nil, f
		}
	}
	nc := &p.nodeCache
	nc.mu.Lock()
	defer nc.mu.Unlock()
	if now := p.now(); nc.nodes != nil && now.Sub(nc.at) < nc.ttl && !now.Before(nc.at) {
		return nc.nodes, nc.sums, nil
	}
	var nodes []api.Node
	if err := p.call(ctx, c, "GetNodes", &nodes); err != nil {
		return nil, nil, err
	}
	sums, err := p.summaries(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if nodes == nil {
		nodes = []api.Node{}
	}
	nc.nodes, nc.sums, nc.at = nodes, sums, p.now()
	return nodes, sums, nil
}

// withNodes returns nodes with those of ids it lacks (added since the
// cache read them) read now, so a slice's own nodes are always shown.
func (p *Portal) withNodes(ctx context.Context, c *plc.Caller, nodes []api.Node, ids []int64) ([]api.Node, error) {
	have := make(map[int64]bool, len(nodes))
	for _, n := range nodes {
		have[n.NodeID] = true
	}
	var missing []any
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nodes, nil
	}
	var more []api.Node
	if err := p.call(ctx, c, "GetNodes", &more, missing); err != nil {
		return nil, err
	}
	return append(slices.Clip(nodes), more...), nil
}
