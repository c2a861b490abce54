package node

import (
	"fmt"
	"log/slog"
	"os"
	"syscall"
)

// secureStateDir creates the node's state directory, or opens it, as
// root's alone (mode 0700). It holds sockets anyone may connect to (mode
// 0666: the admin service's, the node manager's for slivers), meant for
// the slivers that the sandbox shows them to, through read-only mounts
// root makes; a host user must not reach them through the directory.
// Nothing else needs it: slivers reach their roots, images and shares
// through mounts root makes too. A directory of another mode is made
// 0700, and the log says so; one owned by another user is refused (that
// user could open it again).
func secureStateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("state directory %s: not a directory", dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("state directory %s: owned by uid %d, not this node's (uid %d)", dir, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm() == 0o700 {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	log.Warn("state directory made private: it holds sockets for slivers, not for the host's users",
		"dir", dir, "was", fi.Mode().Perm().String(), "now", os.FileMode(0o700).String())
	return nil
}
