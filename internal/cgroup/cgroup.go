// Package cgroup puts each sliver in a control group of its own and sets its
// CPU, memory and process limits (paper 4.2.2). It hides the two cgroup
// layouts a node may have behind one small Manager interface:
//
//   - hybrid ("v1"): one cgroup v1 hierarchy per controller under
//     <root>/<ctrl> (cpu, cpuacct, cpuset, memory, pids, freezer), plus a
//     controller-less cgroup v2 tree at <root>/unified that still offers
//     cgroup.kill, cpu.stat and BPF attachment;
//   - pure cgroup v2 ("v2"): one tree at <root> with the controllers enabled
//     in cgroup.subtree_control.
//
// A sliver's cgroup is <parent>/<name> in every hierarchy. The layout is
// probed once, in New; a controller that is missing is reported there and
// every Resources field that needs it is refused by Set, never ignored.
//
// Fake is an in-memory Manager for other packages' tests.
package cgroup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Resources is the whole desired state of one sliver's cgroup. Set applies
// all of it, so a zero field means "back to the default", and calling Set
// again with the same value changes nothing.
type Resources struct {
	// CPUWeight is the sliver's proportional CPU share in PlanetLab
	// cpu_share units; 0 and 1 both mean the default share. It maps to
	// cgroup v1 cpu.shares = 1024*w (clamped to 2..262144) and to cgroup v2
	// cpu.weight = 100*w (clamped to 1..10000), so in both layouts a sliver
	// with weight 4 gets four times the CPU of a sliver with weight 1.
	CPUWeight int64
	// CPUQuota caps the sliver at CPUQuota µs of CPU time per CPUPeriod
	// (CFS bandwidth control); 0 means uncapped. At least 1000 µs.
	CPUQuota int64
	// CPUPeriod is the CFS period in µs, 1000..1000000; 0 means 100000.
	CPUPeriod int64
	// CPUSet optionally pins the sliver to a list of CPUs, such as "0" or
	// "0-1,3"; empty means every CPU its parent has.
	CPUSet string
	// MemoryMax is the sliver's memory limit in bytes; 0 means unlimited.
	// Past it the kernel reclaims, then OOM-kills inside the sliver only.
	// Swap is not a way around it: v1 sets memory.memsw.limit_in_bytes to
	// the same value, v2 sets memory.swap.max to 0.
	MemoryMax int64
	// MemoryLow is memory in bytes protected from reclaim: cgroup v2
	// memory.low, or cgroup v1 memory.soft_limit_in_bytes (a weaker,
	// best-effort guarantee). 0 means none.
	MemoryLow int64
	// PidsMax bounds the number of processes and threads; 0 means unlimited.
	PidsMax int64
}

// v2Controllers are the controllers that enforce Resources, named as in
// cgroup v2 (and as the v1 hierarchies of the same name).
var v2Controllers = []string{"cpu", "cpuset", "memory", "pids"}

// DefaultCPUPeriod is the CFS period used when Resources.CPUPeriod is 0.
const DefaultCPUPeriod = 100000

// Stats is what the kernel accounts for one sliver's cgroup.
type Stats struct {
	// CPUUsage is the CPU time used by every process that ever ran in it.
	CPUUsage time.Duration
	// MemoryCurrent is the memory charged to it, in bytes.
	MemoryCurrent int64
	// Pids is the number of tasks (processes and threads) in it.
	Pids int64
	// OOMKills counts the processes the OOM killer killed in it, where the
	// kernel reports that (v1 memory.oom_control, v2 memory.events).
	OOMKills int64
}

// Manager creates, fills, measures and removes slivers' cgroups. Every
// method takes the sliver's name (see ValidName) and is safe for
// concurrent use.
type Manager interface {
	// Mode is "v1" (hybrid v1 controllers), "v2" (pure cgroup v2) or
	// "fake".
	Mode() string
	// Controllers lists the controllers Set can use, among "cpu",
	// "cpuset", "memory" and "pids".
	Controllers() []string
	// Set creates the cgroup if needed, in every hierarchy, and applies r.
	// A field whose controller is missing makes Set fail with an error
	// wrapping errors.ErrUnsupported.
	Set(name string, r Resources) error
	// Enter moves the process pid (with all its threads) into the cgroup,
	// in every hierarchy, the unified v2 tree included.
	Enter(name string, pid int) error
	// Procs lists the processes in the cgroup, in ascending order.
	Procs(name string) ([]int, error)
	// Stats reads the cgroup's accounting.
	Stats(name string) (Stats, error)
	// Kill kills every process in the cgroup and waits until it is empty
	// or ctx is done. A missing cgroup is already empty.
	Kill(ctx context.Context, name string) error
	// Remove kills the cgroup's processes, then removes it from every
	// hierarchy. It returns nil if the cgroup is already gone.
	Remove(ctx context.Context, name string) error
	// List names the slivers' cgroups that exist in any hierarchy, so a
	// restarted node can reconcile them.
	List() ([]string, error)
	// UnifiedPath is the absolute path of the cgroup in the cgroup v2 tree
	// (for BPF programs and nftables "socket cgroupv2"), or "" when the
	// node has no v2 tree.
	UnifiedPath(name string) string
}

// maxNameLen bounds a cgroup name; PlanetLab slice names are far shorter.
const maxNameLen = 64

// ValidName reports whether name can name a sliver's cgroup: 1 to 64
// characters among a-z, A-Z, 0-9, '.', '_' and '-', not starting with '.' or
// '-'. That keeps "..", "/" and hidden names out, and every PlanetLab
// slice name ("princeton_codeen") in.
func ValidName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("cgroup name %q: must be 1 to %d characters", name, maxNameLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("cgroup name %q: must not start with %q", name, name[0])
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("cgroup name %q: character %q not allowed", name, c)
		}
	}
	return nil
}

// validParent checks a parent path: one or more valid names joined by '/'.
func validParent(parent string) error {
	for _, part := range strings.Split(parent, "/") {
		if err := ValidName(part); err != nil {
			return fmt.Errorf("cgroup parent %q: %w", parent, err)
		}
	}
	return nil
}

// Validate reports the first field of r that no kernel would accept.
func (r Resources) Validate() error {
	switch {
	case r.CPUWeight < 0:
		return fmt.Errorf("cpu weight %d: negative", r.CPUWeight)
	case r.CPUQuota < 0 || r.CPUQuota > 0 && r.CPUQuota < 1000:
		return fmt.Errorf("cpu quota %d µs: must be 0 or at least 1000", r.CPUQuota)
	case r.CPUPeriod != 0 && (r.CPUPeriod < 1000 || r.CPUPeriod > 1000000):
		return fmt.Errorf("cpu period %d µs: must be 0 or 1000..1000000", r.CPUPeriod)
	case strings.Trim(r.CPUSet, "0123456789,-") != "":
		return fmt.Errorf("cpu set %q: not a list of CPUs", r.CPUSet)
	case r.MemoryMax < 0 || r.MemoryLow < 0:
		return fmt.Errorf("memory max %d, low %d: negative", r.MemoryMax, r.MemoryLow)
	case r.MemoryMax > 0 && r.MemoryLow > r.MemoryMax:
		return fmt.Errorf("memory low %d: above memory max %d", r.MemoryLow, r.MemoryMax)
	case r.PidsMax < 0:
		return fmt.Errorf("pids max %d: negative", r.PidsMax)
	}
	return nil
}

// needs lists the controllers that r needs beyond the defaults.
func (r Resources) needs() []string {
	var c []string
	if r.CPUWeight > 1 || r.CPUQuota > 0 || r.CPUPeriod > 0 {
		c = append(c, "cpu")
	}
	if r.CPUSet != "" {
		c = append(c, "cpuset")
	}
	if r.MemoryMax > 0 || r.MemoryLow > 0 {
		c = append(c, "memory")
	}
	if r.PidsMax > 0 {
		c = append(c, "pids")
	}
	return c
}

// checkSupported fails, wrapping errors.ErrUnsupported, when r needs a
// controller that is not in have.
func (r Resources) checkSupported(have []string) error {
	var missing []string
	for _, c := range r.needs() {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("controllers %s: %w", strings.Join(missing, ","), errors.ErrUnsupported)
	}
	return nil
}

// period is the CFS period to use.
func (r Resources) period() int64 {
	if r.CPUPeriod == 0 {
		return DefaultCPUPeriod
	}
	return r.CPUPeriod
}

// cpuShares maps a PlanetLab cpu_share weight to cgroup v1 cpu.shares.
func cpuShares(w int64) int64 {
	return clampWeight(w, 1024, 2, 262144)
}

// cpuWeight maps a PlanetLab cpu_share weight to cgroup v2 cpu.weight.
func cpuWeight(w int64) int64 {
	return clampWeight(w, 100, 1, 10000)
}

func clampWeight(w, unit, lo, hi int64) int64 {
	if w <= 0 {
		w = 1
	}
	if w > hi/unit {
		return hi
	}
	return max(lo, w*unit)
}
