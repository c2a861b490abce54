package disk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Project quota interface, from linux/fs.h and linux/quota.h.
const (
	iocFsGetXattr     = 0x801c581f // _IOR('X', 31, struct fsxattr)
	iocFsSetXattr     = 0x401c5820 // _IOW('X', 32, struct fsxattr)
	xflagProjInherit  = 0x200
	prjQuota          = 2
	qGetInfo          = 0x800005
	qGetQuota         = 0x800007
	qSetQuota         = 0x800008
	qifBlimits        = 1
	ext4SuperMagic    = 0xef53
	quotaBlockSize    = 1024 // units of dqb_bhardlimit
	sysQuotactlFd     = 443  // quotactl_fd(2), Linux 5.14+
	projectIDMax      = 1<<32 - 1
	projectIDReserved = 0 // project 0 is every unassigned file's
)

// fsxattr is struct fsxattr.
type fsxattr struct {
	xflags     uint32
	extsize    uint32
	nextents   uint32
	projid     uint32
	cowextsize uint32
	_          [8]byte
}

// dqblk is struct if_dqblk.
type dqblk struct {
	bhardlimit, bsoftlimit, curspace  uint64
	ihardlimit, isoftlimit, curinodes uint64
	btime, itime                      uint64
	valid                             uint32
	_                                 uint32
}

// dqinfo is struct if_dqinfo.
type dqinfo struct {
	bgrace, igrace uint64
	flags, valid   uint32
}

func quotactlFd(fd int, cmd int, id uint32, addr unsafe.Pointer) error {
	_, _, errno := unix.Syscall6(sysQuotactlFd, uintptr(fd), uintptr(cmd), uintptr(id), uintptr(addr), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// prjquota gives each sliver directory an XFS/ext4 project of its own,
// numbered by the directory's inode number, with a block hard limit. A
// sliver cannot change a directory's project: only the initial user
// namespace may (fileattr_set_prepare).
//
// The development machines' kernel lacks quota support; make test-vm runs
// the package's tests on Debian's 6.1 with the state on ext4 with project
// quotas. Open picks it only if the probe proves project quotas are on.
type prjquota struct {
	slivers
	dirfd int
}

// probePrjquota reports whether dir's file system is XFS or ext4 with
// project quotas enabled.
func probePrjquota(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil || (st.Type != unix.XFS_SUPER_MAGIC && st.Type != ext4SuperMagic) {
		return false
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var info dqinfo
	return quotactlFd(fd, qGetInfo<<8|prjQuota, 0, unsafe.Pointer(&info)) == nil
}

func openPrjquota(stateDir string) (*prjquota, error) {
	q := &prjquota{slivers: slivers{root: filepath.Join(stateDir, "disk", "slivers")}}
	if err := os.MkdirAll(q.root, 0o711); err != nil {
		return nil, fmt.Errorf("create slivers dir: %w", err)
	}
	fd, err := unix.Open(q.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open slivers dir: %w", err)
	}
	q.dirfd = fd
	return q, nil
}

func (q *prjquota) Kind() string   { return KindPrjquota }
func (q *prjquota) Enforces() bool { return true }
func (q *prjquota) Close() error   { return unix.Close(q.dirfd) }

func (q *prjquota) Create(id string, limit int64) (string, error) {
	dir, err := q.path(id)
	if err != nil {
		return "", err
	}
	if err := unix.Mkdirat(q.dirfd, id, 0o711); err != nil && !errors.Is(err, unix.EEXIST) {
		return "", fmt.Errorf("create sliver dir: %w", err)
	}
	fd, err := unix.Openat(q.dirfd, id, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open sliver dir: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "", fmt.Errorf("stat sliver dir: %w", err)
	}
	if st.Ino == projectIDReserved || st.Ino > projectIDMax {
		return "", fmt.Errorf("sliver dir inode %d cannot be a project id", st.Ino)
	}
	var fa fsxattr
	if err := ioctl(fd, iocFsGetXattr, unsafe.Pointer(&fa)); err != nil {
		return "", fmt.Errorf("ioctl FS_IOC_FSGETXATTR: %w", err)
	}
	fa.projid = uint32(st.Ino)
	fa.xflags |= xflagProjInherit
	if err := ioctl(fd, iocFsSetXattr, unsafe.Pointer(&fa)); err != nil {
		return "", fmt.Errorf("ioctl FS_IOC_FSSETXATTR: %w", err)
	}
	return dir, q.setLimit(fd, fa.projid, limit)
}

// project opens a sliver's directory and returns it with its project id.
func (q *prjquota) project(id string) (fd int, projid uint32, err error) {
	if _, err := q.path(id); err != nil {
		return -1, 0, err
	}
	fd, err = unix.Openat(q.dirfd, id, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, 0, fmt.Errorf("open sliver %s: %w", id, err)
	}
	var fa fsxattr
	if err := ioctl(fd, iocFsGetXattr, unsafe.Pointer(&fa)); err != nil || fa.projid == 0 {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("sliver %s has no project: %v", id, err)
	}
	return fd, fa.projid, nil
}

func (q *prjquota) setLimit(fd int, projid uint32, limit int64) error {
	d := dqblk{valid: qifBlimits}
	if limit > 0 {
		d.bhardlimit = uint64((limit + quotaBlockSize - 1) / quotaBlockSize)
	}
	if err := quotactlFd(fd, qSetQuota<<8|prjQuota, projid, unsafe.Pointer(&d)); err != nil {
		return fmt.Errorf("quotactl Q_SETQUOTA project %d: %w", projid, err)
	}
	return nil
}

func (q *prjquota) SetLimit(id string, limit int64) error {
	fd, projid, err := q.project(id)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return q.setLimit(fd, projid, limit)
}

func (q *prjquota) Usage(id string) (int64, error) {
	fd, projid, err := q.project(id)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var d dqblk
	if err := quotactlFd(fd, qGetQuota<<8|prjQuota, projid, unsafe.Pointer(&d)); err != nil {
		return 0, fmt.Errorf("quotactl Q_GETQUOTA project %d: %w", projid, err)
	}
	return int64(d.curspace), nil
}

func (q *prjquota) Remove(id string) error {
	dir, err := q.path(id)
	if err != nil {
		return err
	}
	fd, projid, perr := q.project(id)
	if perr == nil {
		unix.Close(fd)
	}
	if err := removeTree(dir); err != nil {
		return err
	}
	if perr == nil {
		// The inode number, hence the project id, may be reused: clear it.
		return q.setLimit(q.dirfd, projid, 0)
	}
	return nil
}
