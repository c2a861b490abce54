package push

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
)

// FakeSource is a Source kept in memory, for tests and benchmarks of the
// node channel and of nodes' resource managers. A change made with
// SetSlivers calls OnChange, if set, as central's core would.
type FakeSource struct {
	// OnChange, if set, is called after each SetSlivers with the node.
	OnChange func(nodeIDs []int64)

	// mu guards the following.
	mu       sync.Mutex
	nodes    map[int64]*fakeNode
	tokens   map[string]int64
	versions int // calls of Versions
}

type fakeNode struct {
	secret  string
	list    api.Slivers
	reports []api.SliverReport
	nreport int
}

var _ Source = (*FakeSource)(nil)

// NewFakeSource returns an empty FakeSource.
func NewFakeSource() *FakeSource {
	return &FakeSource{nodes: map[int64]*fakeNode{}, tokens: map[string]int64{}}
}

// AddNode adds node id with its secret and an empty list of version 1.
func (f *FakeSource) AddNode(id int64, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[id] = &fakeNode{secret: secret, list: api.Slivers{NodeID: id, Version: 1, Slivers: []api.Sliver{}}}
}

// AddToken makes token register node id (which must not exist yet).
func (f *FakeSource) AddToken(token string, id int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens[token] = id
}

// SetSlivers replaces node id's list, bumps its version, and calls
// OnChange unless quiet (a change made by "another process", which only
// the Versions poll reveals).
func (f *FakeSource) SetSlivers(id int64, slivers []api.Sliver, quiet bool) int64 {
	f.mu.Lock()
	n := f.nodes[id]
	n.list.Version++
	n.list.Slivers = append([]api.Sliver{}, slivers...)
	v := n.list.Version
	f.mu.Unlock()
	if f.OnChange != nil && !quiet {
		f.OnChange([]int64{id})
	}
	return v
}

// Reports returns node id's last reports and how many it sent.
func (f *FakeSource) Reports(id int64) ([]api.SliverReport, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nodes[id]
	return append([]api.SliverReport(nil), n.reports...), n.nreport
}

// VersionsCalls returns how many times Versions was called.
func (f *FakeSource) VersionsCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.versions
}

// NodeSlivers returns a copy of the node's list, timestamped now.
func (f *FakeSource) NodeSlivers(ctx context.Context, id int64) (api.Slivers, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return api.Slivers{}, fmt.Errorf("node %d: %w", id, ErrDenied)
	}
	l := n.list
	l.Slivers = append([]api.Sliver{}, l.Slivers...)
	l.Timestamp = time.Now().Unix()
	return l, nil
}

// ReportSlivers records the reports.
func (f *FakeSource) ReportSlivers(ctx context.Context, id int64, reports []api.SliverReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return fmt.Errorf("node %d: %w", id, ErrDenied)
	}
	n.reports = append([]api.SliverReport(nil), reports...)
	n.nreport++
	return nil
}

// NodeSecret returns the node's secret.
func (f *FakeSource) NodeSecret(ctx context.Context, id int64) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[id]
	if !ok {
		return "", fmt.Errorf("node %d: %w", id, ErrDenied)
	}
	return n.secret, nil
}

// RegisterNode uses a token added with AddToken.
func (f *FakeSource) RegisterNode(ctx context.Context, token, hostname, ip, version string) (int64, string, error) {
	f.mu.Lock()
	id, ok := f.tokens[token]
	delete(f.tokens, token)
	f.mu.Unlock()
	if !ok {
		return 0, "", fmt.Errorf("token: %w", ErrDenied)
	}
	secret := fmt.Sprintf("secret-of-node-%d", id)
	f.AddNode(id, secret)
	f.mu.Lock()
	f.nodes[id].list.Hostname = hostname
	f.mu.Unlock()
	return id, secret, nil
}

// Versions returns the versions of the nodes that exist.
func (f *FakeSource) Versions(ctx context.Context, ids []int64) (map[int64]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions++
	out := make(map[int64]int64, len(ids))
	for _, id := range ids {
		if n, ok := f.nodes[id]; ok {
			out[id] = n.list.Version
		}
	}
	return out, nil
}
