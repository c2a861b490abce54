package testutil

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// SweepCgroups removes cgroups left behind by test runs that died before
// their cleanup: directories named "orbistest-<what>-<pid>" in any
// hierarchy under root, whose pid is no longer alive. Cgroups of test
// processes still running (other packages run in parallel) are left
// alone. It returns what it removed.
func SweepCgroups(root string) []string {
	var removed []string
	for _, h := range hierarchies(root) {
		tops, _ := filepath.Glob(filepath.Join(h, "orbistest-*"))
		for _, top := range tops {
			if alive(top) {
				continue
			}
			removed = append(removed, removeTree(top)...)
		}
	}
	return removed
}

// SweepPins removes bpffs pins left by test runs that died: directories
// named "orbistest-<what>-<pid>" under dir whose pid is gone. Unpinning a
// BPF link detaches its program.
func SweepPins(dir string) []string {
	var removed []string
	tops, _ := filepath.Glob(filepath.Join(dir, "orbistest-*"))
	for _, top := range tops {
		if !alive(top) && os.RemoveAll(top) == nil {
			removed = append(removed, top)
		}
	}
	return removed
}

// alive reports whether the pid at the end of an orbistest-...-<pid> name
// is a running process; a name without a pid counts as alive.
func alive(path string) bool {
	name := filepath.Base(path)
	pid, err := strconv.Atoi(name[strings.LastIndexByte(name, '-')+1:])
	if err != nil || pid <= 0 {
		return true
	}
	_, err = os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// removeTree removes a cgroup directory tree, deepest first; a cgroup
// with processes left in it stays.
func removeTree(top string) []string {
	var dirs []string
	filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var removed []string
	for _, d := range dirs {
		if os.Remove(d) == nil {
			removed = append(removed, d)
		}
	}
	return removed
}

// RemoveNodeCgroups removes a test node's top cgroup and its "fair" group
// from every hierarchy under root, failing the test if one cannot go
// (a process left in it).
func RemoveNodeCgroups(t testing.TB, root, parent string) {
	t.Helper()
	for _, h := range hierarchies(root) {
		base := filepath.Join(h, parent)
		os.Remove(filepath.Join(base, "fair"))
		if err := os.Remove(base); err != nil && !os.IsNotExist(err) {
			t.Errorf("cleanup cgroup %s: %v", base, err)
		}
	}
}

// hierarchies returns the cgroup hierarchies at root: root itself when a
// pure cgroup v2 tree is mounted there, else its subdirectories (v1
// controllers and a hybrid machine's unified tree).
func hierarchies(root string) []string {
	if _, err := os.Stat(filepath.Join(root, "cgroup.procs")); err == nil {
		return []string{root}
	}
	entries, _ := os.ReadDir(root)
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	return dirs
}
