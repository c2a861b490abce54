package sliver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/sandbox"
)

// How CPU shares and guarantees map onto cgroups (paper 4.2.2).
//
// The paper's scheduler gives each active sliver CPU in proportion to its
// shares, and gives guarantees by admitting at most 1000 thousandths of
// the node (api.MaxCPUGuarantee). Here, every sliver without a guarantee
// is a child of the group "orbis/fair", weighted by its cpu_shares, so
// best-effort slivers share among themselves in proportion to their
// shares. A sliver with a guarantee g is a sibling of that group, directly
// under "orbis", with weight g; the fair group weighs 1000 minus the sum
// of the guarantees.
// Under full contention a guaranteed sliver therefore gets at least g/1000
// of the node's CPU, and the excess is shared in proportion to those
// weights. With cpu_cap set, a CFS quota holds it at exactly g/1000.
//
// cgroup weights are coarse (cgroup v2 cpu.weight tops out at 10000 = 100
// shares), so thousandths become weights in steps of 10: a guarantee is
// kept to within 1% of the node.
const (
	fairGroup   = "fair"
	weightScale = 10 // thousandths per weight unit
)

func weightOf(thousandths int64) int64 { return max(1, (thousandths+weightScale/2)/weightScale) }

// cgroupsOf is the manager whose parent holds the sliver's cgroup.
func (m *Manager) cgroupsOf(s Spec) cgroup.Manager {
	if s.Rspec.CPUGuarantee > 0 {
		return m.opts.Cgroups
	}
	return m.opts.Fair
}

// CgroupResources turns an rspec into the cgroup settings of a sliver on
// a node of numCPU CPUs: it enforces cpu_shares, cpu_guarantee, cpu_cap,
// memory_max, memory_guarantee and proc_max.
func CgroupResources(r api.Rspec, numCPU int) cgroup.Resources {
	res := cgroup.Resources{
		CPUWeight: max(1, r.CPUShares),
		MemoryMax: r.MemoryMax,
		MemoryLow: r.MemoryGuarantee,
		PidsMax:   r.ProcMax,
	}
	if r.CPUGuarantee > 0 {
		res.CPUWeight = weightOf(r.CPUGuarantee)
		if r.CPUCap {
			res.CPUPeriod = cgroup.DefaultCPUPeriod
			res.CPUQuota = r.CPUGuarantee * int64(numCPU) * cgroup.DefaultCPUPeriod / api.MaxCPUGuarantee
		}
	}
	return res
}

// setFairWeight records the CPU guarantee of s and weighs the fair group
// at what the guarantees leave. The weight is a node's, not a sliver's:
// it is written when it changes (the first call of a manager always
// writes it), not at every sliver's create.
func (m *Manager) setFairWeight(s Spec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.indexLocked(); err != nil {
		return fmt.Errorf("fair group: %w", err)
	}
	m.guarantees[s.Name] = s.Rspec.CPUGuarantee
	var sum int64
	for _, g := range m.guarantees {
		sum += g
	}
	w := weightOf(max(0, api.MaxCPUGuarantee-sum))
	if w == m.fairWeight {
		return nil
	}
	if err := m.opts.Cgroups.Set(fairGroup, cgroup.Resources{CPUWeight: w}); err != nil {
		m.fairWeight = 0
		return fmt.Errorf("fair group: %w", err)
	}
	m.fairWeight = w
	return nil
}

// setCgroups puts the sliver's cgroup in the right group with the right
// settings, moving its processes if its guarantee appeared or went away,
// and reweighs the fair group.
func (m *Manager) setCgroups(ctx context.Context, s Spec) error {
	if err := m.setFairWeight(s); err != nil {
		return err
	}
	to, from := m.opts.Fair, m.opts.Cgroups
	if s.Rspec.CPUGuarantee > 0 {
		to, from = from, to
	}
	if err := m.setLimits(ctx, to, s); err != nil {
		return err
	}
	procs, err := from.Procs(s.Name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // never was in the other group
	}
	if err != nil {
		return err
	}
	for _, pid := range procs {
		if err := to.Enter(s.Name, pid); err != nil {
			return fmt.Errorf("move sliver process %d: %w", pid, err)
		}
	}
	return from.Remove(ctx, s.Name)
}

// setLimits applies the sliver's limits to its cgroup in cg. cgroup v1
// refuses a memory limit below what the sliver holds and the kernel cannot
// reclaim (EBUSY; with no swap, all it has written to memory), where v2
// OOM-kills down to the limit: a sliver must not keep memory, nor its old
// limits, by holding on to it. So there its processes are killed, as the
// OOM killer would, and the limit set on the emptied cgroup; the sliver's
// state stays, and the next login or start brings it back.
func (m *Manager) setLimits(ctx context.Context, cg cgroup.Manager, s Spec) error {
	res := CgroupResources(s.Rspec, m.opts.NumCPU)
	err := cg.Set(s.Name, res)
	if !errors.Is(err, unix.EBUSY) || res.MemoryMax <= 0 {
		return err
	}
	m.opts.Log.Warn("the sliver holds more memory than its new limit: killing its processes to apply it",
		"slice", s.Name, "memory_max", res.MemoryMax, "err", err)
	if err := cg.Kill(ctx, s.Name); err != nil {
		return fmt.Errorf("memory limit below the sliver's use: %w", err)
	}
	return cg.Set(s.Name, res)
}

// warmAttach calls Options.WarmAttach, if set.
func (m *Manager) warmAttach() {
	if m.opts.WarmAttach != nil {
		m.opts.WarmAttach()
	}
}

// enterCgroup puts a new init of the sliver in its cgroup before it runs
// any sliver code.
func (m *Manager) enterCgroup(s Spec, pid int) error {
	return m.cgroupsOf(s).Enter(s.Name, pid)
}

func (m *Manager) killCgroups(ctx context.Context, name string) error {
	return errors.Join(m.opts.Cgroups.Kill(ctx, name), m.opts.Fair.Kill(ctx, name))
}

func (m *Manager) removeCgroups(ctx context.Context, name string) error {
	return errors.Join(m.opts.Cgroups.Remove(ctx, name), m.opts.Fair.Remove(ctx, name))
}

// Rlimits are the per-process limits of the rspec; the open-file limit
// bounds each process, and the cgroup's process limit bounds how many.
func Rlimits(r api.Rspec) []sandbox.Rlimit {
	if r.OpenFileMax <= 0 {
		return nil
	}
	n := uint64(r.OpenFileMax)
	return []sandbox.Rlimit{{Resource: unix.RLIMIT_NOFILE, Soft: n, Hard: n}}
}
