package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/mountinfo"
)

// manager is the Manager of a real cgroup file system.
type manager struct {
	fs     *rootFS
	root   string // absolute path of the cgroup root, such as /sys/fs/cgroup
	parent string // slash-separated parent of every sliver's cgroup
	lay    layout
	ctrls  []string // controllers Set can use, sorted
	log    *slog.Logger
}

// New probes the cgroup layout under root (usually /sys/fs/cgroup), creates
// the parent cgroup (such as "orbis") in every hierarchy, enables the v2
// controllers it needs there, and returns a Manager of the slivers' cgroups
// under it. Missing controllers are logged as a warning and listed by no
// Controllers call; Set refuses the fields that need them.
func New(root, parent string, log *slog.Logger) (Manager, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("cgroup root %q: not absolute", root)
	}
	root = filepath.Clean(root)
	if err := validParent(parent); err != nil {
		return nil, err
	}
	mi, err := os.Open(mountinfo.SelfFile)
	if err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	defer mi.Close()
	lay, err := parseMountinfo(mi, root)
	if err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	rfs, err := openRootFS(root)
	if err != nil {
		return nil, fmt.Errorf("probe cgroups: %w", err)
	}
	m, err := newManager(rfs, root, parent, lay, log)
	if err != nil {
		rfs.Close()
		return nil, err
	}
	return m, nil
}

// newManager sets up the parent cgroup in the hierarchies of lay.
func newManager(rfs *rootFS, root, parent string, lay layout, log *slog.Logger) (*manager, error) {
	m := &manager{fs: rfs, root: root, parent: parent, lay: lay, log: log.With("cgroup_root", root)}
	if err := m.makeParent(); err != nil {
		return nil, fmt.Errorf("create cgroup parent %s: %w", parent, err)
	}
	if lay.mode == "v2" {
		m.ctrls = m.enableV2()
	} else {
		for _, c := range v2Controllers {
			if _, ok := lay.v1[c]; ok {
				m.ctrls = append(m.ctrls, c)
			}
		}
	}
	m.reportMissing()
	return m, nil
}

// makeParent creates each level of the parent path in every hierarchy.
func (m *manager) makeParent() error {
	parts := strings.Split(m.parent, "/")
	for _, h := range m.lay.hierarchies() {
		for i := range parts {
			if _, err := m.mkdir(h, path.Join(h, path.Join(parts[:i+1]...))); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdir creates the cgroup dir in hierarchy h. A new v1 cpuset cgroup gets
// its parent's CPUs and memory nodes, without which no task can enter it.
func (m *manager) mkdir(h, dir string) (bool, error) {
	created, err := m.fs.mkdir(dir)
	if err != nil || !created || m.lay.mode != "v1" || h != m.lay.v1["cpuset"] {
		return created, err
	}
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := m.fs.read(path.Join(path.Dir(dir), f))
		if err == nil {
			err = m.fs.write(path.Join(dir, f), v+"\n")
		}
		if err != nil {
			return created, fmt.Errorf("copy %s of new cgroup: %w", f, err)
		}
	}
	return created, nil
}

// enableV2 enables every wanted controller that the root offers in the
// subtree_control of the root and of each parent level, and returns those
// it could enable.
func (m *manager) enableV2() []string {
	offered, err := m.fs.read("cgroup.controllers")
	if err != nil {
		m.log.Warn("cannot read the cgroup v2 controllers", "err", err)
		return nil
	}
	levels := []string{"."}
	parts := strings.Split(m.parent, "/")
	for i := range parts[:len(parts)-1] {
		levels = append(levels, path.Join(parts[:i+1]...))
	}
	levels = append(levels, m.parent)
	var enabled []string
	for _, c := range v2Controllers {
		if !slices.Contains(strings.Fields(offered), c) {
			continue
		}
		if err := m.enableV2Controller(levels, c); err != nil {
			m.log.Warn("cannot enable a cgroup v2 controller", "controller", c, "err", err)
			continue
		}
		enabled = append(enabled, c)
	}
	return enabled
}

func (m *manager) enableV2Controller(levels []string, c string) error {
	for _, l := range levels {
		if err := m.fs.write(path.Join(l, "cgroup.subtree_control"), "+"+c); err != nil {
			return err
		}
	}
	return nil
}

// reportMissing warns, once, about controllers and features the node lacks.
func (m *manager) reportMissing() {
	var missing []string
	for _, c := range v2Controllers {
		if !slices.Contains(m.ctrls, c) {
			missing = append(missing, c)
		}
	}
	if m.lay.mode == "v1" {
		for _, c := range []string{"cpuacct", "freezer"} {
			if _, ok := m.lay.v1[c]; !ok {
				missing = append(missing, c)
			}
		}
	}
	if len(missing) > 0 {
		m.log.Warn("cgroup controllers missing: resources needing them will be refused",
			"mode", m.lay.mode, "missing", strings.Join(missing, ","))
	}
	killer := "signals"
	switch {
	case m.lay.unified != "" && m.fs.exists(path.Join(m.lay.unified, m.parent, "cgroup.kill")):
		killer = "cgroup.kill"
	case m.lay.v1["freezer"] != "":
		killer = "v1 freezer"
	case m.lay.unified != "" && m.fs.exists(path.Join(m.lay.unified, m.parent, "cgroup.freeze")):
		killer = "cgroup.freeze"
	}
	if killer == "signals" {
		m.log.Warn("no cgroup.kill and no freezer: killing a sliver races with its forks")
	}
	m.log.Info("cgroups probed", "mode", m.lay.mode, "controllers", strings.Join(m.ctrls, ","),
		"unified", m.lay.unified, "kill_with", killer)
}

// Mode implements Manager.
func (m *manager) Mode() string { return m.lay.mode }

// Controllers implements Manager.
func (m *manager) Controllers() []string { return slices.Clone(m.ctrls) }

// UnifiedPath implements Manager.
func (m *manager) UnifiedPath(name string) string {
	if m.lay.unified == "" {
		return ""
	}
	return filepath.Join(m.root, m.lay.unified, m.parent, name)
}

// dirs lists the cgroup's directory in every hierarchy.
func (m *manager) dirs(name string) []string {
	var dirs []string
	for _, h := range m.lay.hierarchies() {
		dirs = append(dirs, path.Join(h, m.parent, name))
	}
	return dirs
}

// ctrlDir is the cgroup's directory for controller c, if c is there.
func (m *manager) ctrlDir(c, name string) (string, bool) {
	if m.lay.mode == "v2" {
		return path.Join(m.parent, name), true
	}
	h, ok := m.lay.v1[c]
	return path.Join(h, m.parent, name), ok
}

// Set implements Manager.
func (m *manager) Set(name string, r Resources) (err error) {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("set cgroup %s: %w", name, err)
	}
	if err := r.checkSupported(m.ctrls); err != nil {
		return fmt.Errorf("set cgroup %s: %w", name, err)
	}
	var created []string
	defer func() {
		if err != nil {
			m.undoCreate(created)
		}
	}()
	for _, h := range m.lay.hierarchies() {
		dir := path.Join(h, m.parent, name)
		ok, err := m.mkdir(h, dir)
		if ok {
			created = append(created, dir)
		}
		if err != nil {
			return fmt.Errorf("create cgroup %s: %w", name, err)
		}
	}
	if m.lay.mode == "v2" {
		err = m.applyV2(name, r)
	} else {
		err = m.applyV1(name, r)
	}
	if err != nil {
		return fmt.Errorf("set cgroup %s: %w", name, err)
	}
	return nil
}

// undoCreate removes the cgroup directories a failed Set made.
func (m *manager) undoCreate(dirs []string) {
	for _, d := range dirs {
		if err := m.fs.rmdir(d); err != nil {
			m.log.Warn("cannot remove a half-made cgroup", "err", err)
		}
	}
}

// Enter implements Manager.
func (m *manager) Enter(name string, pid int) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if pid <= 0 {
		return fmt.Errorf("enter cgroup %s: bad pid %d", name, pid)
	}
	for _, d := range m.dirs(name) {
		if err := m.fs.write(path.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("enter cgroup %s: %w", name, err)
		}
	}
	return nil
}

// Procs implements Manager. It lists the union of every hierarchy's
// cgroup.procs, so a process that entered only some of them still counts.
func (m *manager) Procs(name string) ([]int, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	found := false
	for _, d := range m.dirs(name) {
		s, err := m.fs.read(path.Join(d, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list processes of cgroup %s: %w", name, err)
		}
		found = true
		for _, f := range strings.Fields(s) {
			if pid, err := strconv.Atoi(f); err == nil {
				seen[pid] = true
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("list processes of cgroup %s: %w", name, fs.ErrNotExist)
	}
	pids := make([]int, 0, len(seen))
	for pid := range seen {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids, nil
}

// List implements Manager.
func (m *manager) List() ([]string, error) {
	var names []string
	for _, h := range m.lay.hierarchies() {
		subs, err := m.fs.subdirs(path.Join(h, m.parent))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list cgroups: %w", err)
		}
		for _, s := range subs {
			if ValidName(s) == nil && !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
	}
	sort.Strings(names)
	return names, nil
}
