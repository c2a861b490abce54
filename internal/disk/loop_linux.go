package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// mountImage makes sure the btrfs image <state>/disk.img exists (creating a
// sparse one of size bytes, or a default size) and is mounted at
// <state>/disk. It reports whether it mounted it: an image already mounted
// there (by an earlier agent whose slivers still run) is reused.
func mountImage(ctx context.Context, stateDir string, size int64, log *slog.Logger) (mounted bool, err error) {
	mnt := filepath.Join(stateDir, "disk")
	img := filepath.Join(stateDir, "disk.img")
	if err := os.MkdirAll(mnt, 0o711); err != nil {
		return false, fmt.Errorf("create disk mount point: %w", err)
	}
	unlock, err := lockFile(filepath.Join(stateDir, "disk.lock"))
	if err != nil {
		return false, err
	}
	defer unlock()
	if isMount, err := isMountRoot(mnt); err != nil {
		return false, err
	} else if isMount {
		if ok, err := isBtrfs(mnt); err != nil || !ok {
			return false, fmt.Errorf("%s is a mount point but not btrfs", mnt)
		}
		log.Info("reusing mounted disk image", "mount", mnt)
		return false, nil
	}
	if _, err := os.Stat(img); errors.Is(err, fs.ErrNotExist) {
		if err := makeImage(ctx, img, size, log); err != nil {
			return false, err
		}
	}
	start := time.Now()
	dev, err := attachLoop(img)
	if err != nil {
		return false, err
	}
	// The loop device is set to clear itself when its last user goes: the
	// mount holds it from now on, and the unmount in Close frees it.
	defer dev.Close()
	if err := unix.Mount(dev.Name(), mnt, "btrfs", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		return false, fmt.Errorf("mount %s on %s: %w", dev.Name(), mnt, err)
	}
	log.Info("disk image mounted", "image", img, "loop", dev.Name(), "took", time.Since(start))
	return true, nil
}

// makeImage creates a file of size bytes (0: DefaultImageSize), all
// allocated, and makes a btrfs in it, under a temporary name renamed into
// place once complete. A sparse image would let btrfs acknowledge writes
// that a full state disk then cannot store: the kernel drops them.
func makeImage(ctx context.Context, img string, size int64, log *slog.Logger) error {
	if size <= 0 {
		size = DefaultImageSize
	}
	tmp := img + ".tmp"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create disk image: %w", err)
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("allocate the disk image (%d MiB) on the state disk: %w", size>>20, err)
	}
	// Single metadata copy: a DUP copy in the same file protects nothing.
	out, err := exec.CommandContext(ctx, "mkfs.btrfs", "-q", "-m", "single", "-d", "single", "-L", "orbis-disk", tmp).CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mkfs.btrfs (apt-get install btrfs-progs): %w: %s", err, strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
	}
	if err := os.Rename(tmp, img); err != nil {
		return fmt.Errorf("install disk image: %w", err)
	}
	log.Info("disk image created", "image", img, "size", size)
	return nil
}

// attachLoop binds a free loop device to the file with LOOP_CONFIGURE,
// marked to detach itself when its last user closes it. The caller closes
// the returned device once it has mounted it.
func attachLoop(file string) (*os.File, error) {
	backing, err := os.OpenFile(file, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open disk image: %w", err)
	}
	defer backing.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open loop control: %w", err)
	}
	defer ctl.Close()
	for range 10 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("ioctl LOOP_CTL_GET_FREE: %w", err)
		}
		dev, err := os.OpenFile(fmt.Sprintf("/dev/loop%d", n), os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open loop device: %w", err)
		}
		cfg := unix.LoopConfig{Fd: uint32(backing.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], file)
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if err == nil {
			return dev, nil
		}
		dev.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("ioctl LOOP_CONFIGURE %s: %w", dev.Name(), err)
		}
	}
	return nil, errors.New("attach loop device: every free device was taken")
}

// isMountRoot reports whether path is the root of a mount.
func isMountRoot(path string) (bool, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		return false, fmt.Errorf("statx %s: %w", path, err)
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT == 0 {
		return false, errors.New("kernel does not report mount roots (STATX_ATTR_MOUNT_ROOT)")
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0, nil
}

// lockFile takes an exclusive flock on path, so two agents opening one
// state directory do not both mount its image.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", filepath.Base(path), err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", filepath.Base(path), err)
	}
	return func() { f.Close() }, nil
}
