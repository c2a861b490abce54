package lease

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"sync"

	"github.com/orbisproject/orbis/api"
)

// FakeNM is a node manager for tests of brokers: one pool rcap, splits
// within it (guarantees move, shares and window stay within the pool's),
// at most Pool.Rspec.Slivers bound slivers, and refusals shaped as the
// real one's (*api.NMCallError with its statuses).
type FakeNM struct {
	mu sync.Mutex
	// mu guards the following.
	pool     api.RcapInfo
	children map[api.Rcap]*api.RcapInfo
	bound    map[string]api.Rcap // slice -> rcap
	keys     map[string][]string
	down     error
	seq      int
}

// NewFakeNM returns a fake node manager whose broker owns a pool rcap of
// rs.
func NewFakeNM(rs api.Rspec) *FakeNM {
	return &FakeNM{
		pool:     api.RcapInfo{Rcap: "pool-rcap", ID: "pool", Rspec: rs, Pool: true, Owner: "slice:site_broker"},
		children: map[api.Rcap]*api.RcapInfo{}, bound: map[string]api.Rcap{}, keys: map[string][]string{},
	}
}

// SetDown makes every call fail with err (nil: answer again).
func (f *FakeNM) SetDown(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = err
}

func refuse(status int, format string, a ...any) error {
	return &api.NMCallError{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// Rcaps returns the pool and its live children.
func (f *FakeNM) Rcaps(ctx context.Context) (api.NMRcaps, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return api.NMRcaps{}, f.down
	}
	out := api.NMRcaps{Rcaps: []api.RcapInfo{f.pool}}
	for _, c := range f.children {
		out.Rcaps = append(out.Rcaps, *c)
	}
	return out, nil
}

// Split carves rs out of the pool.
func (f *FakeNM) Split(ctx context.Context, rc api.Rcap, rs api.Rspec) (api.Rcap, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &f.pool.Rspec
	switch {
	case f.down != nil:
		return "", f.down
	case rc != f.pool.Rcap:
		return "", refuse(http.StatusForbidden, "split: rcap refused: unknown, released or expired")
	case rs.CPUShares > p.CPUShares:
		return "", refuse(http.StatusConflict, "split: cpu_shares: %d exceeds the parent's %d", rs.CPUShares, p.CPUShares)
	case rs.CPUGuarantee > p.CPUGuarantee:
		return "", refuse(http.StatusConflict, "split: cpu_guarantee: %d requested, the parent holds %d", rs.CPUGuarantee, p.CPUGuarantee)
	case rs.Start != 0 && rs.Start < p.Start, p.End != 0 && rs.End > p.End:
		return "", refuse(http.StatusConflict, "split: window outside the parent's")
	case rs.Privileges.CreateSliver && !p.Privileges.CreateSliver:
		return "", refuse(http.StatusForbidden, "split: privileges.create_sliver: the parent does not hold it")
	}
	f.seq++
	child := api.Rcap(fmt.Sprintf("child-%d", f.seq))
	p.CPUGuarantee -= rs.CPUGuarantee
	f.children[child] = &api.RcapInfo{Rcap: child, ID: string(child), Parent: f.pool.ID, Rspec: rs, Owner: f.pool.Owner}
	return child, nil
}

// Bind binds a child to slice, within the pool's slivers.
func (f *FakeNM) Bind(ctx context.Context, slice string, rc api.Rcap, attrs api.BindAttrs) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.children[rc]
	switch {
	case f.down != nil:
		return f.down
	case c == nil:
		return refuse(http.StatusForbidden, "bind: rcap refused: unknown, released or expired")
	case c.Bound == "" && int64(len(f.bound)) >= f.pool.Rspec.Slivers:
		return refuse(http.StatusConflict, "bind: slivers: %d of the pool's %d bound", len(f.bound), f.pool.Rspec.Slivers)
	}
	if old, ok := f.bound[slice]; ok && old != rc {
		f.children[old].Bound = ""
	}
	c.Bound, f.bound[slice], f.keys[slice] = slice, rc, append([]string(nil), attrs.Keys...)
	return nil
}

// Release frees a child, destroying its sliver.
func (f *FakeNM) Release(ctx context.Context, rc api.Rcap) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down != nil {
		return f.down
	}
	if f.children[rc] == nil {
		return refuse(http.StatusForbidden, "release: rcap refused: unknown, released or expired")
	}
	f.dropLocked(rc)
	return nil
}

func (f *FakeNM) dropLocked(rc api.Rcap) {
	c := f.children[rc]
	if c.Bound != "" {
		delete(f.bound, c.Bound)
		delete(f.keys, c.Bound)
	}
	f.pool.Rspec.CPUGuarantee += c.Rspec.CPUGuarantee
	delete(f.children, rc)
}

// Expire releases the children whose end is at or before now, as the real
// node manager does by itself.
func (f *FakeNM) Expire(now int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for rc, c := range f.children {
		if c.Rspec.End != 0 && c.Rspec.End <= now {
			f.dropLocked(rc)
		}
	}
}

// Slivers returns the bound slices and their keys.
func (f *FakeNM) Slivers() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for s, k := range f.keys {
		out[s] = append([]string(nil), k...)
	}
	return out
}

// Children returns the live children's rspecs, by rcap.
func (f *FakeNM) Children() []api.RcapInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []api.RcapInfo
	for _, c := range f.children {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// FixedCapacity is a CapacitySource that always says the same.
type FixedCapacity struct {
	Cap     Capacity
	Problem string
}

// Capacity returns the fixed capacity.
func (f FixedCapacity) Capacity() (Capacity, string) { return f.Cap, f.Problem }

// Kick does nothing.
func (FixedCapacity) Kick() {}
