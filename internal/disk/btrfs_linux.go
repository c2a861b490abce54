package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// btrfsQuota makes each sliver directory a btrfs subvolume and limits its
// qgroup. Everything per sliver goes through ioctls on one directory
// descriptor: creating a sliver costs one subvolume create (a transaction
// commit) plus a qgroup limit, with no process started.
type btrfsQuota struct {
	slivers
	log      *slog.Logger
	opts     Options
	stateDir string
	dirfd    int    // the slivers directory, for *at calls and ioctls
	mnt      string // the image mount point Open mounted, or ""
	simple   bool   // simple quotas (squota) rather than full qgroups
	img      string // the image, if the btrfs is one, or ""
	base     string // where the image is mounted

	// growMu guards the following.
	growMu sync.Mutex
	sparse bool // the image is not all allocated yet
}

// openBtrfs sets up the btrfs mechanism under stateDir: on the state
// directory's own btrfs if it is one, else on a loop-mounted image.
func openBtrfs(ctx context.Context, stateDir string, opts Options, log *slog.Logger) (_ *btrfsQuota, err error) {
	base := filepath.Join(stateDir, "disk")
	q := &btrfsQuota{slivers: slivers{root: filepath.Join(base, "slivers"), reserve: opts.Reserve}, log: log, opts: opts,
		stateDir: stateDir, base: base, dirfd: -1}
	if onBtrfs, err := isBtrfs(stateDir); err != nil {
		return nil, err
	} else if !onBtrfs {
		mounted, err := mountImage(ctx, stateDir, opts.ImageSize, log)
		if err != nil {
			return nil, err
		}
		if mounted {
			q.mnt = base
		}
		q.img = filepath.Join(stateDir, "disk.img")
		if q.sparse, err = isSparse(q.img); err != nil {
			return nil, err
		}
	}
	defer func() {
		if err != nil {
			q.Close()
		}
	}()
	if err := os.MkdirAll(q.root, 0o711); err != nil {
		return nil, fmt.Errorf("create slivers dir: %w", err)
	}
	if q.dirfd, err = unix.Open(q.root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("open slivers dir: %w", err)
	}
	if err := q.enableQuota(!opts.FullQgroups); err != nil {
		return nil, err
	}
	return q, nil
}

// enableQuota turns qgroups on, preferring simple quotas when asked and
// falling back to full accounting on kernels without them.
func (q *btrfsQuota) enableQuota(simple bool) error {
	if simple {
		err := quotaEnable(q.dirfd, true)
		if err == nil {
			q.simple = true
			return nil
		}
		q.log.Info("btrfs simple quotas unavailable, using full qgroups", "err", err)
	}
	return quotaEnable(q.dirfd, false)
}

func isBtrfs(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Type == unix.BTRFS_SUPER_MAGIC, nil
}

func (q *btrfsQuota) Kind() string   { return KindBtrfs }
func (q *btrfsQuota) Enforces() bool { return true }

// Close unmounts the image if Open mounted it. If a sliver's overlay still
// uses it, the image stays mounted (a later Open reuses the mount) and
// Close says so in the log: restarting the agent must not hurt slivers.
func (q *btrfsQuota) Close() error {
	if q.dirfd >= 0 {
		unix.Close(q.dirfd)
		q.dirfd = -1
	}
	if q.mnt == "" {
		return nil
	}
	err := unix.Unmount(q.mnt, 0)
	if errors.Is(err, unix.EBUSY) {
		q.log.Info("disk image still in use, left mounted", "mount", q.mnt)
		return nil
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", q.mnt, err)
	}
	q.mnt = ""
	return nil
}

func (q *btrfsQuota) Create(id string, limit int64) (dir string, err error) {
	if dir, err = q.path(id); err != nil {
		return "", err
	}
	if limit < 0 {
		return "", fmt.Errorf("negative disk limit %d", limit)
	}
	err = subvolCreate(q.dirfd, id)
	created := err == nil
	if errors.Is(err, unix.EEXIST) {
		err = nil
	}
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil && created {
			subvolDestroy(q.dirfd, id)
		}
	}()
	fd, err := q.openSubvol(id)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if created {
		if err := unix.Fchmod(fd, 0o711); err != nil {
			return "", fmt.Errorf("chmod sliver dir: %w", err)
		}
	}
	if err := q.limit(fd, limit); err != nil {
		return "", fmt.Errorf("limit sliver %s: %w", id, err)
	}
	return dir, nil
}

// openSubvol opens a sliver's subvolume without following a symlink, and
// checks that it is one.
func (q *btrfsQuota) openSubvol(id string) (int, error) {
	fd, err := unix.Openat(q.dirfd, id, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open sliver %s: %w", id, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Ino != firstFreeObjectid {
		unix.Close(fd)
		return -1, fmt.Errorf("sliver %s: not a btrfs subvolume", id)
	}
	return fd, nil
}

func (q *btrfsQuota) SetLimit(id string, limit int64) error {
	if _, err := q.path(id); err != nil {
		return err
	}
	fd, err := q.openSubvol(id)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return q.limit(fd, limit)
}

// limit sets the qgroup limit of the sliver subvolume open as fd.
func (q *btrfsQuota) limit(fd int, limit int64) error {
	sid, err := subvolID(fd)
	if err != nil {
		return err
	}
	return qgroupLimit(q.dirfd, sid, limit)
}

func (q *btrfsQuota) Usage(id string) (int64, error) {
	if _, err := q.path(id); err != nil {
		return 0, err
	}
	fd, err := q.openSubvol(id)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	sid, err := subvolID(fd)
	if err != nil {
		return 0, err
	}
	return qgroupReferenced(fd, sid)
}

// Remove deletes the sliver's subvolume with one ioctl: the kernel drops
// the whole tree without walking it, so nothing the sliver planted inside
// (symlinks to host paths included) is ever followed.
func (q *btrfsQuota) Remove(id string) error {
	dir, err := q.path(id)
	if err != nil {
		return err
	}
	err = subvolDestroy(q.dirfd, id)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTEMPTY):
		// The sliver made subvolumes of its own inside: delete them first.
		if err := q.destroyNested(id); err != nil {
			return err
		}
		return subvolDestroy(q.dirfd, id)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOTDIR):
		// Not a subvolume: a plain directory or file left by other means.
		return removeTree(dir)
	}
	return err
}

// destroyNested deletes the subvolumes nested in a sliver's subvolume,
// deepest first, opening each parent beneath the sliver's directory with
// no symlink resolution.
func (q *btrfsQuota) destroyNested(id string) error {
	top, err := q.openSubvol(id)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	var nested []string
	root := filepath.Join(q.root, id)
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || path == root {
			return nil
		}
		if info, err := d.Info(); err == nil && inode(info) == firstFreeObjectid {
			rel, _ := filepath.Rel(root, path)
			nested = append(nested, rel)
		}
		return nil
	})
	sort.Slice(nested, func(i, j int) bool { return strings.Count(nested[i], "/") > strings.Count(nested[j], "/") })
	for _, rel := range nested {
		parent, err := unix.Openat2(top, filepath.Dir(rel), &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err != nil {
			return fmt.Errorf("open nested subvolume parent: %w", err)
		}
		err = subvolDestroy(parent, filepath.Base(rel))
		unix.Close(parent)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

func inode(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
