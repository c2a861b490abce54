package disk

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/mountinfo"
)

// iocResize is BTRFS_IOC_RESIZE, _IOW(0x94, 3, struct btrfs_ioctl_vol_args).
const iocResize = 0x50009403

// Statfs returns the bytes free (to users other than root) and the size
// of dir's file system.
func Statfs(dir string) (free, size int64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * st.Bsize, int64(st.Blocks) * st.Bsize, nil
}

// Space reports the room left in the btrfs and on the state disk. On an
// image, it first makes sure every byte of the image is allocated (an
// image an earlier version made sparse), then grows the image if slivers
// are running out of room and the state disk can spare it.
func (q *btrfsQuota) Space() (Space, error) {
	q.growMu.Lock()
	defer q.growMu.Unlock()
	if q.img != "" && q.sparse {
		if err := allocate(q.img, 0); err != nil {
			q.log.Error("the disk image is not backed by allocated space: a write of a sliver may be lost if the state disk fills; free space on it", "image", q.img, "err", err)
		} else {
			q.sparse = false
			q.log.Info("disk image now fully allocated", "image", q.img)
		}
	}
	sp, err := q.space()
	if err != nil || q.img == "" || sp.Free >= max(sp.Size/8, 2*fullBelow) {
		return q.judge(sp), err
	}
	step := min(growStep(sp.Size), sp.StateFree-q.opts.reserve())
	if step < fullBelow {
		return q.judge(sp), nil
	}
	if err := q.grow(step); err != nil {
		q.log.Error("grow disk image", "image", q.img, "by", step, "err", err)
		return q.judge(sp), nil
	}
	q.log.Info("disk image grown", "image", q.img, "by", step)
	sp, err = q.space()
	return q.judge(sp), err
}

// growStep is by how much an image of size grows.
func growStep(size int64) int64 { return max(size/4, growMin) }

func (q *btrfsQuota) space() (Space, error) {
	free, size, err := Statfs(q.root)
	if err != nil {
		return Space{}, err
	}
	stateFree, _, err := Statfs(q.stateDir)
	if err != nil {
		return Space{}, err
	}
	return Space{Size: size, Free: free, StateFree: stateFree}, nil
}

// judge says in sp.Full whether the node must refuse new slivers.
func (q *btrfsQuota) judge(sp Space) Space {
	reserve := q.opts.reserve()
	switch {
	case q.sparse:
		sp.Full = "disk image not backed by allocated space (the state disk is too full to allocate it): slivers' writes may be lost"
	case sp.StateFree < reserve:
		sp.Full = fmt.Sprintf("state disk full: %d MiB free, below the %d MiB reserve", sp.StateFree>>20, reserve>>20)
	case sp.Free < fullBelow:
		sp.Full = fmt.Sprintf("slivers' disk full: %d MiB free of %d MiB", sp.Free>>20, sp.Size>>20)
	}
	return sp
}

// grow adds by allocated bytes to the image, then tells the loop device
// and btrfs.
func (q *btrfsQuota) grow(by int64) error {
	if err := allocate(q.img, by); err != nil {
		return err
	}
	dev, err := mountSource(q.base)
	if err != nil {
		return err
	}
	d, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.IoctlSetInt(int(d.Fd()), unix.LOOP_SET_CAPACITY, 0); err != nil {
		return fmt.Errorf("ioctl LOOP_SET_CAPACITY %s: %w", dev, err)
	}
	a, _ := nameArgs("max")
	if err := ioctl(q.dirfd, iocResize, unsafe.Pointer(a)); err != nil {
		return fmt.Errorf("ioctl BTRFS_IOC_RESIZE max: %w", err)
	}
	return nil
}

// allocate allocates every byte of the file at path, filling holes, and
// extends it by more bytes, allocated too.
func allocate(path string, more int64) error {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, st.Size()+more); err != nil {
		return fmt.Errorf("fallocate %s: %w", path, err)
	}
	return nil
}

// isSparse reports whether the file at path has fewer bytes allocated
// than its size.
func isSparse(path string) (bool, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Blocks*512 < st.Size, nil
}

// mountSource names the device mounted at mnt, from this process's mount
// table.
func mountSource(mnt string) (string, error) {
	mounts, err := mountinfo.Read(mountinfo.SelfFile)
	if err != nil {
		return "", err
	}
	var src string
	for _, m := range mounts {
		if m.Point == mnt {
			src = m.Source // the last mount there is the one seen
		}
	}
	if src == "" {
		return "", errors.New("no mount at " + mnt)
	}
	return src, nil
}
