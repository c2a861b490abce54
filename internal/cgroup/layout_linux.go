package cgroup

import (
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/orbisproject/orbis/internal/mountinfo"
)

// v1Controllers are the cgroup v1 controllers a hybrid node uses: the four
// that enforce Resources, cpuacct for Stats, freezer for Kill.
var v1Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer"}

// layout says where the hierarchies are, relative to the cgroup root.
type layout struct {
	// mode is "v1" (hybrid or plain v1) or "v2" (pure cgroup v2).
	mode string
	// v1 maps a v1 controller to its hierarchy's directory, such as "cpu"
	// or "cpu,cpuacct" when co-mounted.
	v1 map[string]string
	// unified is the directory of the cgroup v2 tree: "." in v2 mode,
	// usually "unified" in hybrid mode, "" if there is none.
	unified string
}

// hierarchies lists the distinct hierarchy directories, v1 ones sorted,
// the unified one last.
func (l layout) hierarchies() []string {
	var dirs []string
	for _, d := range l.v1 {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	sort.Strings(dirs)
	if l.unified != "" {
		dirs = append(dirs, l.unified)
	}
	return dirs
}

// parseMountinfo finds the cgroup hierarchies mounted at root (pure v2) or
// directly under it (v1 controllers, and a v2 tree in hybrid mode) in the
// text of /proc/self/mountinfo. A later mount on the same point wins, as it
// hides the earlier one.
func parseMountinfo(r io.Reader, root string) (layout, error) {
	mounts, err := mountinfo.Parse(r)
	if err != nil {
		return layout{}, err
	}
	l := layout{v1: map[string]string{}}
	v2AtRoot := false
	for _, m := range mounts {
		point := m.Point
		switch {
		case point == root && m.FSType == "cgroup2":
			v2AtRoot = true
		case path.Dir(point) != root:
		case m.FSType == "cgroup2":
			l.unified = path.Base(point)
		case m.FSType == "cgroup":
			for _, o := range strings.Split(m.SuperOptions, ",") {
				if slices.Contains(v1Controllers, o) {
					l.v1[o] = path.Base(point)
				}
			}
		}
	}
	switch {
	case v2AtRoot:
		return layout{mode: "v2", unified: "."}, nil
	case len(l.v1) > 0:
		l.mode = "v1"
		return l, nil
	}
	return layout{}, fmt.Errorf("no cgroup hierarchy mounted at or under %s", root)
}
