// Package mountinfo reads a mount namespace's table of mounts, the
// mountinfo file of proc(5): the one reader for the packages that need to
// know what is mounted where (cgroup hierarchies, mounts left under a
// directory about to be removed).
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SelfFile is this process's mount table.
const SelfFile = "/proc/self/mountinfo"

// maxLine bounds one line of the table (a mount's options can be long).
const maxLine = 1 << 20

// Mount is one line of mountinfo.
type Mount struct {
	// Point is the mount point, in this process's view, unescaped.
	Point string
	// Options are the per-mount options (rw, nosuid, ...).
	Options string
	// FSType is the file system type (ext4, cgroup2, overlay, ...).
	FSType string
	// Source is the mount source (a device, or "none").
	Source string
	// SuperOptions are the super block's options (for a cgroup v1
	// hierarchy, its controllers among them).
	SuperOptions string
}

// Parse reads a mount table; lines it cannot split are skipped.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLine)
	for sc.Scan() {
		if m, ok := parseLine(sc.Text()); ok {
			out = append(out, m)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// parseLine splits "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3
// /dev/root rw,errors=continue": the optional fields end at " - ".
func parseLine(line string) (Mount, bool) {
	pre, post, found := strings.Cut(line, " - ")
	if !found {
		return Mount{}, false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 6 || len(g) < 3 {
		return Mount{}, false
	}
	return Mount{Point: unescape(f[4]), Options: f[5], FSType: g[0], Source: unescape(g[1]), SuperOptions: g[2]}, true
}

// Read reads the mount table at path (SelfFile: this process's).
func Read(path string) ([]Mount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// Under returns the mount points of mounts at dir or below it, in table
// order (a mount after another may hide it). dir must be clean and
// absolute.
func Under(mounts []Mount, dir string) []string {
	var out []string
	for _, m := range mounts {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") || dir == "/" {
			out = append(out, m.Point)
		}
	}
	return out
}

// PointsUnder returns the mount points at dir or below it in this
// process's mount namespace.
func PointsUnder(dir string) ([]string, error) {
	mounts, err := Read(SelfFile)
	if err != nil {
		return nil, err
	}
	return Under(mounts, dir), nil
}

// unescape undoes the kernel's \ooo escapes (\040 for a space, \011, \012,
// \134 for a backslash).
func unescape(s string) string {
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
