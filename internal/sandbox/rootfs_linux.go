package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// makeRoot builds the sliver's root in the init's new mount namespace and
// pivots into it. Everything here runs as the sliver's root (host UIDBase,
// with capabilities only in the sliver's user namespace), so no step can
// write a host path that the sliver itself could not. The host's paths come
// as fds of detached mounts, which are attached beneath a staging tmpfs
// stacked on "/" (path lookups never see a mount stacked on the root, so
// only fds reach it) until the overlay is made; mounts
// inside the new root go through fds opened beneath it with no symlinks,
// so a symlink the sliver planted cannot redirect one.
func makeRoot(name string, shares []string, fds []int) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	stage, err := fsMount("tmpfs", map[string]string{"mode": "700", "size": "16k"}, unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return fmt.Errorf("staging tmpfs: %w", err)
	}
	defer unix.Close(stage)
	if err := unix.MoveMount(stage, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("staging tmpfs: move_mount: %w", err)
	}
	if err := attachAt(stage, "lower", fds[setupIdmap]); err != nil {
		return fmt.Errorf("attach image: %w", err)
	}
	if err := attachAt(stage, "layers", fds[setupLayers]); err != nil {
		return fmt.Errorf("attach layers: %w", err)
	}
	root, err := fsMount("overlay", map[string]string{
		"lowerdir":  fdPath(fds[setupIdmap]),
		"upperdir":  fdPath(fds[setupUpper]),
		"workdir":   fdPath(fds[setupWork]),
		"userxattr": "",
	}, unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	defer unix.Close(root)
	// Overlayfs falls back to read-only when it cannot set up its work
	// directory (a full disk quota, say): refuse that rather than hand the
	// sliver a root it cannot write.
	var st unix.Statfs_t
	if err := unix.Fstatfs(root, &st); err != nil {
		return fmt.Errorf("statfs overlay: %w", err)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return errors.New("mount overlay: the kernel made the root read-only (is the sliver's disk full?)")
	}
	// The overlay holds its own clones of its layers: drop the stage (the
	// topmost mount on "/"), then stack the overlay there instead, so
	// that after pivot_root nothing but the old root sits on the new one.
	if err := unix.Unmount("/", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach staging tmpfs: %w", err)
	}
	if err := unix.MoveMount(root, "", unix.AT_FDCWD, "/", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach root: move_mount: %w", err)
	}
	if err := mountProc(root); err != nil {
		return err
	}
	if err := mountDev(root); err != nil {
		return err
	}
	for i, target := range shares {
		if err := mountShare(root, target, fds[setupFDs+i]); err != nil {
			return err
		}
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	return pivot(root)
}

// attachAt attaches the detached mount mnt on a new directory name in dir.
func attachAt(dir int, name string, mnt int) error {
	if err := unix.Mkdirat(dir, name, 0o700); err != nil {
		return fmt.Errorf("mkdir %s: %w", name, err)
	}
	mp, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(mp)
	if err := unix.MoveMount(mnt, "", mp, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}

// fsMount makes a detached mount of a new fstype file system; an empty
// option value sets a flag.
func fsMount(fstype string, opts map[string]string, attrs int) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fs)
	for k, v := range opts {
		if v == "" {
			err = unix.FsconfigSetFlag(fs, k)
		} else {
			err = unix.FsconfigSetString(fs, k, v)
		}
		if err != nil {
			return -1, fmt.Errorf("%s option %s: %w%s", fstype, k, err, fsLog(fs))
		}
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("create %s: %w%s", fstype, err, fsLog(fs))
	}
	mnt, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w%s", fstype, err, fsLog(fs))
	}
	return mnt, nil
}

// fsLog returns the messages the kernel left on a file system context.
func fsLog(fs int) string {
	var b strings.Builder
	buf := make([]byte, 512)
	for range 8 {
		n, err := unix.Read(fs, buf)
		if err != nil || n <= 0 {
			break
		}
		b.WriteString("; " + string(buf[:n]))
	}
	return b.String()
}

// mountProc mounts a fresh proc of the sliver's PID namespace. It must
// happen before the host's proc is unmounted: the kernel lets a user
// namespace mount proc only where a full proc is already visible.
func mountProc(root int) error {
	dir, err := rootDir(root, "proc", 0o555)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	if err := unix.Mount("proc", fdPath(dir), "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	return nil
}

// devices are bound from the host's /dev: the sliver cannot mknod.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// mountDev makes /dev: a small tmpfs with the host's harmless devices bound
// in, a devpts instance of the sliver's own, and a tmpfs /dev/shm.
func mountDev(root int) error {
	under, err := rootDir(root, "dev", 0o755)
	if err != nil {
		return err
	}
	err = unix.Mount("tmpfs", fdPath(under), "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755,size=1m,nr_inodes=64")
	unix.Close(under)
	if err != nil {
		return fmt.Errorf("mount /dev: %w", err)
	}
	dev, err := unix.Openat2(root, "dev", &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return fmt.Errorf("open /dev: %w", err)
	}
	defer unix.Close(dev)
	for _, name := range devices {
		if err := bindDevice(dev, name); err != nil {
			return err
		}
	}
	if err := mountIn(dev, "pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return err
	}
	if err := mountIn(dev, "shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=65536k"); err != nil {
		return err
	}
	links := [][2]string{{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}}
	for _, l := range links {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	return nil
}

// bindDevice binds the host's /dev/name onto a new file in dev.
func bindDevice(dev int, name string) error {
	fd, err := unix.Openat(dev, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return fmt.Errorf("create /dev/%s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount("/dev/"+name, fdPath(fd), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /dev/%s: %w", name, err)
	}
	return nil
}

// mountIn mounts a file system on a new directory name in dir.
func mountIn(dir int, name, fstype string, flags uintptr, data string) error {
	if err := unix.Mkdirat(dir, name, 0o755); err != nil {
		return fmt.Errorf("mkdir /dev/%s: %w", name, err)
	}
	fd, err := unix.Openat(dir, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open /dev/%s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Mount(fstype, fdPath(fd), fstype, flags, data); err != nil {
		return fmt.Errorf("mount /dev/%s: %w", name, err)
	}
	return nil
}

// mountShare attaches the detached read-only mount share (a node
// directory: the raw socket service's at /run/orbis, the node manager's at
// /run/orbis-nm) at target, making the directories on the way as the
// sliver's root and refusing a symlink or another mount on the way.
func mountShare(root int, target string, share int) error {
	parts := strings.Split(strings.TrimPrefix(target, "/"), "/")
	if target == "" || target[0] != '/' {
		return fmt.Errorf("share target %q is not absolute", target)
	}
	dir, err := unix.Dup(root)
	if err != nil {
		return fmt.Errorf("attach %s: %w", target, err)
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			unix.Close(dir)
			return fmt.Errorf("share target %q is not clean", target)
		}
		next, err := rootDir(dir, p, 0o755)
		unix.Close(dir)
		if err != nil {
			return fmt.Errorf("attach %s: %w", target, err)
		}
		dir = next
	}
	defer unix.Close(dir)
	if err := unix.MoveMount(share, "", dir, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH); err != nil {
		return fmt.Errorf("attach %s: move_mount: %w", target, err)
	}
	return nil
}

// rootDir opens (making it if missing) the directory name right under the
// sliver's root, refusing a symlink or anything that is not a directory on
// the root's own mount.
func rootDir(root int, name string, mode uint32) (int, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
	}
	fd, err := unix.Openat2(root, name, how)
	if err == unix.ENOENT {
		if err := unix.Mkdirat(root, name, mode); err != nil && err != unix.EEXIST {
			return -1, fmt.Errorf("mkdir /%s: %w", name, err)
		}
		fd, err = unix.Openat2(root, name, how)
	}
	if err != nil {
		return -1, fmt.Errorf("sliver's /%s must be a plain directory: %w", name, err)
	}
	return fd, nil
}

// pivot makes root the root of the mount namespace and drops the host's
// tree from it (runc's pivot_root(".", ".") sequence).
func pivot(root int) error {
	old, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	defer unix.Close(old)
	if err := unix.Fchdir(root); err != nil {
		return fmt.Errorf("pivot_root: chdir: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(old); err != nil {
		return fmt.Errorf("pivot_root: chdir old root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("pivot_root: detach old root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("pivot_root: chdir /: %w", err)
	}
	return nil
}

func fdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }
