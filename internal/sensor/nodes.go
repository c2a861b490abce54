package sensor

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/orbisproject/orbis/api"
)

// maxNodeColumns bounds the columns a /nodes request may name.
const maxNodeColumns = 16

// nodesSnapshot is /nodes/COL/COL...: the node list with the columns the
// path names, in its order (all of them if it names none). An answer
// cached up to NodesMaxAge ago serves requests that ask for no max-age,
// and, if central cannot be reached, older ones.
func (s *Server) nodesSnapshot(ctx context.Context, q *query) (*answer, error) {
	if s.nodes == nil {
		return nil, errNotAvailable("nodes")
	}
	cols := q.rest
	if len(cols) == 0 {
		cols = nodeColumns
	}
	if len(cols) > maxNodeColumns {
		return nil, errorf(http.StatusNotFound, "sensor nodes: at most %d columns", maxNodeColumns)
	}
	for _, c := range cols {
		if !slices.Contains(nodeColumns, c) {
			return nil, errorf(http.StatusNotFound, "sensor nodes: no column %q (have %s)", c, join(nodeColumns))
		}
	}
	maxAge := s.cfg.NodesMaxAge
	if q.hasMaxAge {
		maxAge = q.maxAge
	}
	nodes, age, err := s.nodes.get(ctx, maxAge, !q.hasMaxAge)
	if err != nil {
		return nil, fmt.Errorf("node list: %w", err)
	}
	rows := make([][]string, 0, len(nodes))
	for _, n := range nodes {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = nodeField(n, c)
		}
		rows = append(rows, row)
	}
	a := csvAnswer(cols, rows)
	a.age = age
	return a, nil
}

func nodeField(n Node, col string) string {
	switch col {
	case "id":
		return n.ID
	case "name":
		return n.Hostname
	case "ip":
		return n.IP
	case "site":
		return n.Site
	}
	return ""
}

// CentralNodes is the NodeSource of a node: it asks central's JSON API,
// anonymously, for GetNodes and GetSites (both open to anonymous callers).
type CentralNodes struct {
	url func() string
	// Verifier, if set, returns what verifies an https:// central (nil:
	// the system's roots); a new one replaces the client.
	Verifier func() *api.Verifier

	// mu guards the following.
	mu     sync.Mutex
	client *api.CentralClient
}

// NewCentralNodes returns the NodeSource of the central that url names,
// such as "http://127.0.0.1:8780"; url returns "" while the node follows
// no central. It is a function because a node learns its central when it
// registers, after the sensor server starts.
func NewCentralNodes(url func() string) *CentralNodes { return &CentralNodes{url: url} }

// errNoCentral is the error of a node that follows no central.
var errNoCentral error = &httpError{code: http.StatusServiceUnavailable, msg: "sensor nodes: this node follows no central"}

// centralClient returns a client of central's current URL, kept while
// the URL stays.
func (c *CentralNodes) centralClient() (*api.CentralClient, error) {
	url := strings.TrimRight(c.url(), "/")
	if url == "" {
		return nil, errNoCentral
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var v *api.Verifier
	if c.Verifier != nil {
		v = c.Verifier()
	}
	if c.client == nil || c.client.BaseURL() != url || c.client.Verifier() != v {
		c.client = api.NewCentralClientTLS(url, "", v)
	}
	return c.client, nil
}

// Nodes implements NodeSource.
func (c *CentralNodes) Nodes(ctx context.Context) ([]Node, error) {
	cl, err := c.centralClient()
	if err != nil {
		return nil, err
	}
	var nodes []api.Node
	if err := cl.Call(ctx, "GetNodes", &nodes); err != nil {
		return nil, fmt.Errorf("get nodes: %w", err)
	}
	var sites []api.Site
	if err := cl.Call(ctx, "GetSites", &sites); err != nil {
		return nil, fmt.Errorf("get sites: %w", err)
	}
	base := make(map[int64]string, len(sites))
	for _, st := range sites {
		base[st.SiteID] = st.LoginBase
	}
	slices.SortFunc(nodes, func(a, b api.Node) int { return cmp.Compare(a.NodeID, b.NodeID) })
	out := make([]Node, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, Node{ID: strconv.FormatInt(n.NodeID, 10), Hostname: n.Hostname, IP: n.IP, Site: base[n.SiteID]})
	}
	return out, nil
}
