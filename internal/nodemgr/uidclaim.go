package nodemgr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultUIDClaimDir is where the nodes of a machine claim the host UID
// ranges they hand out (Options.UIDClaimDir): in tmpfs, so a reboot, like
// a crash, frees every claim.
const DefaultUIDClaimDir = "/run/orbis/uids"

// uidClaims makes the host UID ranges a node hands out its own on the
// machine: each range in use is a file in dir, uid-<first UID>.lock,
// flock'd by the node that uses it for as long as it does. Two nodes on
// one machine (two testbeds started with the same UID base, a dev node
// and a testbed) thus never hand out the same range: a range another
// node holds is skipped, and a node whose recorded sliver's range is held
// by another refuses to start, saying so. The kernel drops a dead node's
// locks, so a crash leaves no claim. A nil *uidClaims claims nothing.
type uidClaims struct {
	dir string
	fds map[uint32]int // first UID -> the locked file
}

// errUIDsHeld is a range another live node holds.
var errUIDsHeld = errors.New("held by another Orbis node on this machine")

func newUIDClaims(dir string) (*uidClaims, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("uid claims: %w", err)
	}
	return &uidClaims{dir: dir, fds: map[uint32]int{}}, nil
}

// claim locks the range starting at uid, or returns errUIDsHeld.
func (c *uidClaims) claim(uid uint32) error {
	if c == nil {
		return nil
	}
	if _, ok := c.fds[uid]; ok {
		return nil
	}
	p := c.path(uid)
	for {
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return fmt.Errorf("claim uid range %d: %w", uid, err)
		}
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			unix.Close(fd)
			return fmt.Errorf("uid range %d-%d: %w", uid, uid+UIDRangeSize-1, errUIDsHeld)
		}
		if err != nil {
			unix.Close(fd)
			return fmt.Errorf("claim uid range %d: %w", uid, err)
		}
		var a, b unix.Stat_t
		if unix.Fstat(fd, &a) == nil && unix.Stat(p, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			c.fds[uid] = fd
			return nil
		}
		unix.Close(fd) // its holder removed it as we opened it
	}
}

// release gives up the range starting at uid.
func (c *uidClaims) release(uid uint32) {
	if c == nil {
		return
	}
	if fd, ok := c.fds[uid]; ok {
		os.Remove(c.path(uid))
		unix.Close(fd)
		delete(c.fds, uid)
	}
}

// close gives up every claim but leaves the files: the slivers still use
// the ranges, and the node claims them again when it opens.
func (c *uidClaims) close() {
	if c == nil {
		return
	}
	for uid, fd := range c.fds {
		unix.Close(fd)
		delete(c.fds, uid)
	}
}

func (c *uidClaims) path(uid uint32) string {
	return filepath.Join(c.dir, "uid-"+strconv.FormatUint(uint64(uid), 10)+".lock")
}

// heldBy counts the ranges from base, n of them, that other nodes on the
// machine hold now.
func (c *uidClaims) heldBy(base, n uint32) int {
	if c == nil {
		return 0
	}
	ents, _ := os.ReadDir(c.dir)
	held := 0
	for _, e := range ents {
		num, ok := strings.CutPrefix(e.Name(), "uid-")
		num, ok2 := strings.CutSuffix(num, ".lock")
		uid, err := strconv.ParseUint(num, 10, 32)
		if !ok || !ok2 || err != nil || uid < uint64(base) || (uid-uint64(base))/UIDRangeSize >= uint64(n) {
			continue
		}
		if _, mine := c.fds[uint32(uid)]; mine {
			continue
		}
		if err := c.claim(uint32(uid)); errors.Is(err, errUIDsHeld) {
			held++
		} else if err == nil {
			c.release(uint32(uid)) // a dead node's: gone
		}
	}
	return held
}
