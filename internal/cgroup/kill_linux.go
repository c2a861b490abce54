package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// pollEvery is how often Kill and Remove look again at a cgroup that is
// not empty yet.
const pollEvery = 5 * time.Millisecond

// Stats implements Manager.
func (m *manager) Stats(name string) (Stats, error) {
	if err := ValidName(name); err != nil {
		return Stats{}, err
	}
	var st Stats
	var err error
	if st.CPUUsage, err = m.cpuUsage(name); err != nil {
		return Stats{}, fmt.Errorf("stats of cgroup %s: %w", name, err)
	}
	mem, memOK := m.ctrlDir("memory", name)
	if memOK && m.has("memory") {
		if st.MemoryCurrent, err = m.readInt(mem, "memory.usage_in_bytes", "memory.current"); err != nil {
			return Stats{}, fmt.Errorf("stats of cgroup %s: %w", name, err)
		}
		st.OOMKills = m.oomKills(mem)
	}
	if d, ok := m.ctrlDir("pids", name); ok && m.has("pids") {
		st.Pids, err = m.readInt(d, "pids.current", "pids.current")
	} else {
		var procs []int
		procs, err = m.Procs(name)
		st.Pids = int64(len(procs))
	}
	if err != nil {
		return Stats{}, fmt.Errorf("stats of cgroup %s: %w", name, err)
	}
	return st, nil
}

func (m *manager) has(c string) bool { return slices.Contains(m.ctrls, c) }

// cpuUsage reads v1 cpuacct.usage (ns), or else usage_usec of the v2
// cpu.stat, which the kernel keeps even with no controller enabled.
func (m *manager) cpuUsage(name string) (time.Duration, error) {
	if h, ok := m.lay.v1["cpuacct"]; ok && m.lay.mode == "v1" {
		ns, err := m.readInt(path.Join(h, m.parent, name), "cpuacct.usage", "")
		return time.Duration(ns), err
	}
	if m.lay.unified == "" {
		return 0, fmt.Errorf("cpu usage: no cpuacct controller and no cgroup v2 tree: %w", errors.ErrUnsupported)
	}
	us, err := m.readKey(path.Join(m.lay.unified, m.parent, name, "cpu.stat"), "usage_usec")
	return time.Duration(us) * time.Microsecond, err
}

// oomKills reads the OOM kill count, or 0 where the kernel has none.
func (m *manager) oomKills(d string) int64 {
	file := "memory.oom_control"
	if m.lay.mode == "v2" {
		file = "memory.events"
	}
	n, err := m.readKey(path.Join(d, file), "oom_kill")
	if err != nil {
		return 0
	}
	return n
}

// readInt reads a one-number file of d: v1name in v1 mode, v2name in v2.
func (m *manager) readInt(d, v1name, v2name string) (int64, error) {
	name := v1name
	if m.lay.mode == "v2" {
		name = v2name
	}
	s, err := m.fs.read(path.Join(d, name))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path.Join(d, name), err)
	}
	return n, nil
}

// readKey reads the value of key in a flat-keyed file ("key value" lines).
func (m *manager) readKey(file, key string) (int64, error) {
	s, err := m.fs.read(file)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(line, " ")
		if k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s in %s: %w", key, file, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s in %s: %w", key, file, fs.ErrNotExist)
}

// Kill implements Manager. Each round kills with the best tool at hand:
// cgroup.kill of the v2 tree (atomic, fork bombs included; the hybrid
// unified tree has it too), else freeze, SIGKILL everything, thaw (v1
// freezer or v2 cgroup.freeze), else plain signals; then it waits a little
// for the cgroup to empty, and goes round again while it is not.
func (m *manager) Kill(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	for {
		procs, err := m.Procs(name)
		if errors.Is(err, fs.ErrNotExist) || err == nil && len(procs) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kill cgroup %s: %w", name, err)
		}
		if err := m.killRound(ctx, name, procs); err != nil {
			return fmt.Errorf("kill cgroup %s: %w", name, err)
		}
		if err := m.waitEmpty(ctx, name, 100*time.Millisecond); err != nil {
			return fmt.Errorf("kill cgroup %s: %d processes left: %w", name, len(procs), err)
		}
	}
}

// killRound sends SIGKILL to every process of the cgroup once.
func (m *manager) killRound(ctx context.Context, name string, procs []int) error {
	if m.lay.unified != "" {
		u := path.Join(m.lay.unified, m.parent, name)
		if m.fs.exists(path.Join(u, "cgroup.kill")) && m.hasProcs(u) {
			m.log.Debug("kill cgroup", "name", name, "with", "cgroup.kill")
			return m.fs.write(path.Join(u, "cgroup.kill"), "1")
		}
	}
	if h, ok := m.lay.v1["freezer"]; ok && m.lay.mode == "v1" {
		m.log.Debug("kill cgroup", "name", name, "with", "v1 freezer")
		return m.freezeKillThaw(ctx, freezerV1, path.Join(h, m.parent, name))
	}
	if u := path.Join(m.lay.unified, m.parent, name); m.lay.unified != "" && m.fs.exists(path.Join(u, "cgroup.freeze")) {
		m.log.Debug("kill cgroup", "name", name, "with", "cgroup.freeze")
		return m.freezeKillThaw(ctx, freezerV2, u)
	}
	m.log.Debug("kill cgroup", "name", name, "with", "signals")
	for _, pid := range procs { // racy with forks, but nothing better is left
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	return nil
}

// hasProcs reports whether the cgroup directory d holds a process.
func (m *manager) hasProcs(d string) bool {
	s, err := m.fs.read(path.Join(d, "cgroup.procs"))
	return err == nil && s != ""
}

// A freezer names the files and values that freeze a cgroup.
type freezer struct {
	file, freeze, thaw string
	frozen             func(m *manager, d string) bool
}

var freezerV1 = freezer{"freezer.state", "FROZEN", "THAWED", func(m *manager, d string) bool {
	s, err := m.fs.read(path.Join(d, "freezer.state"))
	return err == nil && s == "FROZEN"
}}

var freezerV2 = freezer{"cgroup.freeze", "1", "0", func(m *manager, d string) bool {
	n, err := m.readKey(path.Join(d, "cgroup.events"), "frozen")
	return err == nil && n == 1
}}

// freezeKillThaw freezes the cgroup d so that nothing in it can fork or
// exit (and no pid can be reused), SIGKILLs every process, and thaws it so
// they die. A cgroup that will not freeze within a second (a task stuck in
// the kernel) is killed anyway.
func (m *manager) freezeKillThaw(ctx context.Context, fz freezer, d string) (err error) {
	if err := m.fs.write(path.Join(d, fz.file), fz.freeze); err != nil {
		return err
	}
	defer func() {
		if terr := m.fs.write(path.Join(d, fz.file), fz.thaw); terr != nil && err == nil {
			err = terr
		}
	}()
	deadline := time.Now().Add(time.Second)
	for !fz.frozen(m, d) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(pollEvery)
	}
	s, err := m.fs.read(path.Join(d, "cgroup.procs"))
	if err != nil {
		return err
	}
	for _, f := range strings.Fields(s) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}
	return nil
}

// waitEmpty polls until the cgroup holds no process, for at most d; it
// fails only when ctx is done.
func (m *manager) waitEmpty(ctx context.Context, name string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		procs, err := m.Procs(name)
		if err != nil || len(procs) == 0 {
			return nil // the next round looks again
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
	return nil
}

// Remove implements Manager.
func (m *manager) Remove(ctx context.Context, name string) error {
	if err := m.Kill(ctx, name); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", name, err)
	}
	for _, d := range m.dirs(name) {
		if err := m.removeTree(ctx, d); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", name, err)
		}
	}
	return nil
}

// removeTree removes the cgroup directory d and any cgroups under it,
// deepest first, retrying while the kernel reports it busy (tasks still
// exiting).
func (m *manager) removeTree(ctx context.Context, d string) error {
	subs, err := m.fs.subdirs(d)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, s := range subs {
		if err := m.removeTree(ctx, path.Join(d, s)); err != nil {
			return err
		}
	}
	for {
		err := m.fs.rmdir(d)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}
