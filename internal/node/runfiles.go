package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/mountinfo"
)

// RemoveStaleRunFiles removes what a node agent with cgroup parent parent
// left in RunDir when it was killed: its lock file and its slivers'
// run directories. It does nothing while an agent holds the lock, and
// leaves a run directory that still has a mount below it. It reports
// whether anything was removed.
func RemoveStaleRunFiles(parent string) (bool, error) {
	lockPath := filepath.Join(RunDir, "node-"+strings.ReplaceAll(parent, "/", "_")+".lock")
	runDir := filepath.Join(RunDir, parent)
	f, err := os.OpenFile(lockPath, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f = nil
	case err != nil:
		return false, fmt.Errorf("stale node lock: %w", err)
	default:
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
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
		if err := os.Remove(lockPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("stale node lock: %w", err)
		}
	}
	return true, nil
}
