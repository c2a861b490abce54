package sandbox

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Names inside Config.RunDir.
const (
	runCtl  = "ctl"      // the init's control socket
	runPid  = "init.pid" // pid, start time and user namespace of the init
	runLock = "lock"     // serialises Start and Stop
)

// Prepare makes the host-side directories of a sliver: the run directory
// (root, 0700) and the overlay's upper and work directories, owned by
// UIDBase. It is safe to call again. It never follows a symlink at Upper or
// Work, and never looks inside them, so what a sliver planted there cannot
// make it touch a host path.
func Prepare(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.RunDir, 0o700); err != nil {
		return fmt.Errorf("prepare run dir: %w", err)
	}
	if err := os.Chmod(cfg.RunDir, 0o700); err != nil {
		return fmt.Errorf("prepare run dir: %w", err)
	}
	if err := ownedDir(cfg.Upper, cfg.UIDBase, 0o755); err != nil {
		return fmt.Errorf("prepare upper: %w", err)
	}
	if err := ownedDir(cfg.Work, cfg.UIDBase, 0o700); err != nil {
		return fmt.Errorf("prepare work: %w", err)
	}
	return nil
}

// ownedDir makes path a directory owned by uid:uid (mode applies only when
// it is created). Its parent is trusted; path itself may have been replaced
// by the sliver, so it is opened without following symlinks and changed
// through the fd.
func ownedDir(path string, uid uint32, mode uint32) error {
	parent, err := unix.Open(filepath.Dir(path), unix.O_DIRECTORY|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: filepath.Dir(path), Err: err}
	}
	defer unix.Close(parent)
	name := filepath.Base(path)
	if err := unix.Mkdirat(parent, name, mode); err != nil && err != unix.EEXIST {
		return &os.PathError{Op: "mkdir", Path: path, Err: err}
	}
	fd, err := unix.Openat(parent, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open (no symlinks)", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, int(uid), int(uid)); err != nil {
		return &os.PathError{Op: "chown", Path: path, Err: err}
	}
	return nil
}

// openOwnedDir opens name in dir as an O_PATH fd for the init, refusing a
// symlink and a directory not owned by uid.
func openOwnedDir(dir int, name string, uid uint32) (int, error) {
	fd, err := unix.Openat(dir, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open (no symlinks)", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Uid != uid {
		unix.Close(fd)
		return -1, fmt.Errorf("%s: not owned by the sliver's uid %d (run Prepare)", name, uid)
	}
	return fd, nil
}
