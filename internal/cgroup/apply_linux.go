package cgroup

import (
	"path"
	"slices"
	"strconv"
)

// applyV1 writes r into the cgroup v1 controllers' files. Every controller
// present is written, so fields left at zero go back to the default.
func (m *manager) applyV1(name string, r Resources) error {
	if d, ok := m.ctrlDir("cpu", name); ok {
		quota := "-1"
		if r.CPUQuota > 0 {
			quota = itoa(r.CPUQuota)
		}
		if err := m.writeAll(d,
			"cpu.shares", itoa(cpuShares(r.CPUWeight)),
			"cpu.cfs_period_us", itoa(r.period()),
			"cpu.cfs_quota_us", quota); err != nil {
			return err
		}
	}
	if d, ok := m.ctrlDir("cpuset", name); ok {
		cpus := r.CPUSet
		if cpus == "" {
			var err error
			if cpus, err = m.fs.read(path.Join(path.Dir(d), "cpuset.cpus")); err != nil {
				return err
			}
		}
		if err := m.fs.write(path.Join(d, "cpuset.cpus"), cpus+"\n"); err != nil {
			return err
		}
	}
	if d, ok := m.ctrlDir("memory", name); ok {
		if err := m.setV1Memory(d, r); err != nil {
			return err
		}
	}
	if d, ok := m.ctrlDir("pids", name); ok {
		if err := m.fs.write(path.Join(d, "pids.max"), limit(r.PidsMax, "max")); err != nil {
			return err
		}
	}
	return nil
}

// v1Unlimited is what memory.limit_in_bytes reads when unlimited (the
// largest page-aligned int64); anything at least this large is "no limit".
const v1Unlimited = 1<<63 - 4096

// setV1Memory sets the memory limit, the same limit on memory plus swap
// when the kernel accounts swap, and the soft limit. The kernel insists
// that memsw.limit >= limit at every moment, so a raise writes memsw first
// and a cut writes it last. The OOM killer is kept on (oom_kill_disable 0,
// the default, written again in case someone changed it): a cgroup at its
// limit loses a process of its own instead of hanging.
func (m *manager) setV1Memory(d string, r Resources) error {
	want := int64(v1Unlimited)
	if r.MemoryMax > 0 {
		want = r.MemoryMax
	}
	files := []string{"memory.limit_in_bytes"}
	if m.fs.exists(path.Join(d, "memory.memsw.limit_in_bytes")) {
		files = append(files, "memory.memsw.limit_in_bytes")
		cur, err := m.fs.read(path.Join(d, "memory.limit_in_bytes"))
		if n, perr := strconv.ParseInt(cur, 10, 64); err == nil && perr == nil && want > n {
			files[0], files[1] = files[1], files[0]
		}
	}
	for _, f := range files {
		if err := m.fs.write(path.Join(d, f), limit(r.MemoryMax, "-1")); err != nil {
			return err
		}
	}
	if err := m.fs.write(path.Join(d, "memory.soft_limit_in_bytes"), limit(r.MemoryLow, "-1")); err != nil {
		return err
	}
	if !m.fs.exists(path.Join(d, "memory.oom_control")) {
		return nil
	}
	return m.fs.write(path.Join(d, "memory.oom_control"), "0") // oom_kill_disable 0
}

// applyV2 writes r into the cgroup v2 controllers' files.
func (m *manager) applyV2(name string, r Resources) error {
	d := path.Join(m.parent, name)
	has := func(c string) bool { return slices.Contains(m.ctrls, c) }
	if has("cpu") {
		if err := m.writeAll(d,
			"cpu.weight", itoa(cpuWeight(r.CPUWeight)),
			"cpu.max", limit(r.CPUQuota, "max")+" "+itoa(r.period())); err != nil {
			return err
		}
	}
	if has("cpuset") {
		// An empty list (a bare newline) means the parent's CPUs.
		if err := m.fs.write(path.Join(d, "cpuset.cpus"), r.CPUSet+"\n"); err != nil {
			return err
		}
	}
	if has("memory") {
		if err := m.setV2Memory(d, r); err != nil {
			return err
		}
	}
	if has("pids") {
		if err := m.fs.write(path.Join(d, "pids.max"), limit(r.PidsMax, "max")); err != nil {
			return err
		}
	}
	return nil
}

// setV2Memory sets memory.max and memory.low, and keeps a limited sliver
// out of swap (memory.swap.max 0), as v1's memsw limit does. memory.oom.group
// stays 0: the OOM killer picks one process inside the cgroup, not all.
func (m *manager) setV2Memory(d string, r Resources) error {
	if err := m.writeAll(d,
		"memory.max", limit(r.MemoryMax, "max"),
		"memory.low", itoa(r.MemoryLow)); err != nil {
		return err
	}
	if !m.fs.exists(path.Join(d, "memory.swap.max")) {
		return nil
	}
	swap := "max"
	if r.MemoryMax > 0 {
		swap = "0"
	}
	return m.fs.write(path.Join(d, "memory.swap.max"), swap)
}

// writeAll writes file, value pairs into directory d, in order.
func (m *manager) writeAll(d string, kv ...string) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if err := m.fs.write(path.Join(d, kv[i]), kv[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// limit formats n, or none when n is 0.
func limit(n int64, none string) string {
	if n == 0 {
		return none
	}
	return itoa(n)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
