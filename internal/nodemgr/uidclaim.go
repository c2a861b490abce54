package nodemgr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultUIDClaimDir is where the nodes of a machine claim the host UID
// ranges they hand out (Options.UIDClaimDir): in tmpfs, so a reboot,
// which ends every sliver, ends every claim.
const DefaultUIDClaimDir = "/run/orbis/uids"

// uidClaims makes the host UID ranges a node hands out its own on the
// machine: each range in use is a file in dir, uid-<first UID>.lock,
// that names the node's state directory, is flock'd by the node while it
// runs, and is removed when the sliver is gone. Two nodes on one machine
// (two testbeds started with the same UID base, a dev node and a
// testbed) thus never hand out the same range: a range is skipped if its
// file is locked (its node runs) or names another node whose state
// directory still exists (its node is stopped, its slivers left), and a
// node whose recorded sliver's range is so held refuses to start, saying
// so. A file naming a state directory that is gone (a test's, a removed
// node's) is stale, and taken over. A nil *uidClaims claims nothing.
type uidClaims struct {
	dir   string
	owner string         // this node's state directory, as the files name it
	fds   map[uint32]int // first UID -> the locked file
}

// errUIDsHeld is a range another node holds.
var errUIDsHeld = errors.New("held by another Orbis node on this machine")

func newUIDClaims(dir, stateDir string) (*uidClaims, error) {
	if dir == "" {
		return nil, nil
	}
	owner, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("uid claims: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("uid claims: %w", err)
	}
	return &uidClaims{dir: dir, owner: owner, fds: map[uint32]int{}}, nil
}

// claim locks the range starting at uid and names this node in its file,
// or returns errUIDsHeld.
func (c *uidClaims) claim(uid uint32) error {
	if c == nil {
		return nil
	}
	if _, ok := c.fds[uid]; ok {
		return nil
	}
	fd, err := c.lock(uid)
	if err != nil {
		return err
	}
	if other := readOwner(fd); other != "" && other != c.owner && exists(other) {
		unix.Close(fd)
		return fmt.Errorf("uid range %d-%d (node %s, stopped): %w", uid, uid+UIDRangeSize-1, other, errUIDsHeld)
	}
	if err := writeOwner(fd, c.owner); err != nil {
		unix.Close(fd)
		return fmt.Errorf("claim uid range %d: %w", uid, err)
	}
	c.fds[uid] = fd
	return nil
}

// lock opens and flocks the range's file, or returns errUIDsHeld if a
// running node holds it.
func (c *uidClaims) lock(uid uint32) (int, error) {
	p := c.path(uid)
	for {
		fd, err := unix.Open(p, unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return -1, fmt.Errorf("claim uid range %d: %w", uid, err)
		}
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			unix.Close(fd)
			return -1, fmt.Errorf("uid range %d-%d: %w", uid, uid+UIDRangeSize-1, errUIDsHeld)
		}
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("claim uid range %d: %w", uid, err)
		}
		var a, b unix.Stat_t
		if unix.Fstat(fd, &a) == nil && unix.Stat(p, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			return fd, nil
		}
		unix.Close(fd) // its holder removed it as we opened it
	}
}

// readOwner reads the state directory a claim file names.
func readOwner(fd int) string {
	b := make([]byte, 4096)
	n, _ := unix.Pread(fd, b, 0)
	return strings.TrimSpace(string(b[:max(n, 0)]))
}

func writeOwner(fd int, owner string) error {
	if err := unix.Ftruncate(fd, 0); err != nil {
		return err
	}
	_, err := unix.Pwrite(fd, []byte(owner+"\n"), 0)
	return err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// release gives up the range starting at uid: its sliver is gone.
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

// close unlocks every claim but leaves the files: the slivers still use
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

// heldBy counts the ranges from base, n of them, that other nodes hold
// (their claim files name a state directory that exists).
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
		if b, err := os.ReadFile(filepath.Join(c.dir, e.Name())); err == nil && exists(strings.TrimSpace(string(b))) {
			held++ // else stale: its node's state is gone
		}
	}
	return held
}

// DropUIDClaims removes the claims in dir of the stopped nodes whose state
// directories lie under root: for whoever removes those nodes with their
// slivers (`orbis testbed down`), so their ranges are free at once. A
// claim still locked (a node just killed, still exiting) is tried again
// for up to dropWait.
func DropUIDClaims(dir, root string) (int, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return 0, err
	}
	n := 0
	for deadline := time.Now().Add(dropWait); ; time.Sleep(50 * time.Millisecond) {
		dropped, locked, err := dropClaims(dir, root)
		n += dropped
		if err != nil || locked == 0 || time.Now().After(deadline) {
			return n, err
		}
	}
}

// dropWait bounds how long DropUIDClaims waits for a node to let go.
const dropWait = 3 * time.Second

// dropClaims removes the unlocked claims of nodes under root, and counts
// the locked ones.
func dropClaims(dir, root string) (dropped, locked int, err error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("uid claims: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		switch {
		case !strings.HasPrefix(readOwner(fd), root+"/"):
		case unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil:
			locked++
		case os.Remove(p) == nil:
			dropped++
		}
		unix.Close(fd)
	}
	return dropped, locked, nil
}
