package sensor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/orbisproject/orbis/internal/cgroup"
)

// CgroupSlices is the node's SliceSource: CPU, memory and tasks from the
// slivers' cgroups, traffic from an optional byte counter.
type CgroupSlices struct {
	// Groups are the cgroup managers whose children are slivers (a node
	// has two: "orbis" for slivers with a CPU guarantee and "orbis/fair"
	// for the others). A sliver found in several is summed.
	Groups []cgroup.Manager
	// Skip names children of Groups that are not slivers ("fair").
	Skip []string
	// Bytes counts each slice's traffic; nil reports zero traffic.
	Bytes ByteCounter
}

// Slices implements SliceSource. A cgroup removed while it is read is
// left out; any other error of a cgroup fails the sample.
func (c *CgroupSlices) Slices(ctx context.Context) ([]SliceSample, error) {
	byName := map[string]*SliceSample{}
	var order []string
	for _, g := range c.Groups {
		names, err := g.List()
		if err != nil {
			return nil, fmt.Errorf("slice cgroups: %w", err)
		}
		for _, name := range names {
			if slices.Contains(c.Skip, name) {
				continue
			}
			st, err := g.Stats(name)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("slice cgroups: %w", err)
			}
			s := byName[name]
			if s == nil {
				s = &SliceSample{Name: name}
				byName[name] = s
				order = append(order, name)
			}
			s.CPUUsage += st.CPUUsage
			s.MemoryBytes += st.MemoryCurrent
			s.Procs += st.Pids
		}
	}
	if err := c.addBytes(ctx, byName); err != nil {
		return nil, err
	}
	out := make([]SliceSample, 0, len(order))
	for _, name := range order {
		out = append(out, *byName[name])
	}
	return out, nil
}

// addBytes adds the byte counters of the slices in byName.
func (c *CgroupSlices) addBytes(ctx context.Context, byName map[string]*SliceSample) error {
	if c.Bytes == nil {
		return nil
	}
	counts, err := c.Bytes(ctx)
	if err != nil {
		return fmt.Errorf("slice byte counters: %w", err)
	}
	for name, b := range counts {
		if s := byName[name]; s != nil {
			s.TxBytes, s.RxBytes = b.Tx, b.Rx
		}
	}
	return nil
}
