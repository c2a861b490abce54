package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
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
	l := layout{v1: map[string]string{}}
	v2AtRoot := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		point, fstype, opts, ok := mountinfoLine(sc.Text())
		if !ok {
			continue
		}
		switch {
		case point == root && fstype == "cgroup2":
			v2AtRoot = true
		case path.Dir(point) != root:
		case fstype == "cgroup2":
			l.unified = path.Base(point)
		case fstype == "cgroup":
			for _, o := range strings.Split(opts, ",") {
				if slices.Contains(v1Controllers, o) {
					l.v1[o] = path.Base(point)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return layout{}, fmt.Errorf("read mountinfo: %w", err)
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

// mountinfoLine splits one line of mountinfo (proc(5)) into the mount
// point, the file system type and the super block options.
func mountinfoLine(line string) (point, fstype, opts string, ok bool) {
	pre, post, found := strings.Cut(line, " - ")
	if !found {
		return "", "", "", false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 5 || len(g) < 3 {
		return "", "", "", false
	}
	return unescapeOctal(f[4]), g[0], g[2], true
}

// unescapeOctal undoes mountinfo's \ooo escapes of spaces and the like.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
