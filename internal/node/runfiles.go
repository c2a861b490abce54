package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/mountinfo"
)

// staleLockWait is how long RemoveStaleRunFiles waits for the lock: the
// processes of an agent just killed may take a moment to let it go.
const staleLockWait = 3 * time.Second

// RemoveStaleRunFiles removes what a node agent with cgroup parent parent
// left in RunDir when it was killed: its lock file and its slivers'
// run directories. It does nothing while an agent holds the lock, and
// leaves a run directory that still has a mount below it. It reports
// whether anything was removed.
func RemoveStaleRunFiles(parent string) (bool, error) {
	lockFile := lockPath(parent)
	runDir := filepath.Join(RunDir, parent)
	f, err := os.OpenFile(lockFile, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = nil
	case err != nil:
		return false, fmt.Errorf("stale node lock: %w", err)
	default:
		defer f.Close()
		if !flockWithin(f, staleLockWait) {
			return false, nil // a live agent holds it
		}
	}
	if _, err := os.Lstat(runDir); errors.Is(err, os.ErrNotExist) && f == nil {
		return false, nil
	}
	if busy, err := mountinfo.PointsUnder(runDir); err != nil || len(busy) > 0 {
		return false, err
	}
	if err := os.RemoveAll(runDir); err != nil {
		return false, fmt.Errorf("stale run directory: %w", err)
	}
	if f != nil {
		if err := os.Remove(lockFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("stale node lock: %w", err)
		}
	}
	return true, nil
}

// flockWithin takes an exclusive flock on f, trying until wait has passed.
func flockWithin(f *os.File, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return true
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) || time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
