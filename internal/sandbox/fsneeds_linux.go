package sandbox

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// fsNames names the file systems a node's state may sit on, by statfs magic.
var fsNames = map[int64]string{
	unix.EXT4_SUPER_MAGIC:      "ext4",
	unix.XFS_SUPER_MAGIC:       "xfs",
	unix.BTRFS_SUPER_MAGIC:     "btrfs",
	unix.TMPFS_MAGIC:           "tmpfs",
	unix.OVERLAYFS_SUPER_MAGIC: "overlay",
	unix.NFS_SUPER_MAGIC:       "nfs",
	unix.RAMFS_MAGIC:           "ramfs",
}

// fsName names the file system holding path ("magic 0x..." if unknown).
func fsName(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown"
	}
	if n, ok := fsNames[int64(st.Type)]; ok {
		return n
	}
	return fmt.Sprintf("magic %#x", st.Type)
}

// explainIdmap turns the kernel's EINVAL for an idmapped mount of dir
// into what the operator must change: the file system of the node's
// state, which holds the images.
func explainIdmap(dir string, err error) error {
	if !errors.Is(err, unix.EINVAL) {
		return err
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	return fmt.Errorf("%w: this kernel (Linux %s) cannot make idmapped mounts of %s; "+
		"keep the node's state directory on ext4, xfs or btrfs (tmpfs needs Linux 6.3 or later; see docs/kernel.md)",
		err, unix.ByteSliceToString(uts.Release[:]), fsName(dir))
}
