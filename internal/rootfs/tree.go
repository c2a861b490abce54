package rootfs

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// seal makes a freshly built tree root's own: its root directory is
// root-owned, and Build puts it in a 0700 directory, so no host user but
// root can reach, let alone write, any file in it, whatever the modes
// inside (which stay as the distribution made them: a sliver sees them
// through its idmapped, read-only mount of the tree). It returns the tree's
// disk usage and entry count.
func seal(root string) (size, files int64, err error) {
	if err := os.Lchown(root, 0, 0); err != nil {
		return 0, 0, fmt.Errorf("chown root: %w", err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return 0, 0, fmt.Errorf("chmod root: %w", err)
	}
	seen := map[uint64]bool{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if path != root {
			files++
		}
		if st.Nlink > 1 && !d.IsDir() {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += st.Blocks * 512
		return nil
	})
	return size, files, err
}

// removeTree deletes a directory tree without following symlinks, after
// checking that nothing is mounted inside it (an interrupted debootstrap
// could leave /proc or a bind mount of /dev behind, which a recursive
// removal must never descend into).
func removeTree(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("refusing to remove %s: %d mounts inside (first %s)", dir, len(mounts), mounts[0])
	}
	// os.RemoveAll opens each directory relative to its parent with
	// O_NOFOLLOW, so a symlink in the tree is removed, never followed.
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir in this process's mount
// namespace.
func mountsUnder(dir string) ([]string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
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
