package rootfs

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/orbisproject/orbis/internal/mountinfo"
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
	return mountinfo.PointsUnder(dir)
}
