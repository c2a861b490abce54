package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/orbisproject/orbis/internal/mountinfo"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/portmgr"
	"golang.org/x/sys/unix"
)

// nodeGrace is how long a node has to stop its slivers on SIGTERM.
const nodeGrace = 30 * time.Second

// Removed counts what Down removed.
type Removed struct {
	Procs, Netns, Links, Mounts, Cgroups int
}

func (r Removed) String() string {
	return fmt.Sprintf("%d processes, %d network namespaces, %d links, %d mounts, %d cgroups",
		r.Procs, r.Netns, r.Links, r.Mounts, r.Cgroups)
}

// Down stops the testbed's nodes (each suspends its slivers) and central,
// then removes every kernel object of the testbed: processes left in its
// namespaces or cgroups, mounts under its directory, its network
// namespaces, links and cgroups. It finds them from the state file and by
// prefix, so it also cleans up after a crash; it is safe to run again.
// The data in Dir stays for the next Up.
func Down(ctx context.Context, cfg Config) (Removed, error) {
	if err := cfg.defaults(); err != nil {
		return Removed{}, err
	}
	unlock, err := lock(cfg.Dir)
	if err != nil {
		return Removed{}, err
	}
	defer unlock()
	return cfg.down(ctx)
}

// down is Down with the lock held.
func (c *Config) down(ctx context.Context) (Removed, error) {
	var r Removed
	st, err := c.load()
	if err != nil {
		c.Log.Warn("unreadable testbed state; sweeping by prefix", "err", err)
	}
	if st != nil {
		c.Prefix = st.Prefix // the prefix it was made with, whatever we were told
		r.Procs += c.stopProcs(ctx, st)
	} else if err := c.checkOwner(); err != nil {
		return r, err
	}
	err = c.sweep(ctx, &r)
	if err == nil {
		if rerr := os.Remove(c.stateFile()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = rerr
		}
	}
	return r, err
}

// checkOwner refuses to sweep a prefix whose bridge belongs to a testbed
// in another directory that still runs.
func (c *Config) checkOwner() error {
	owner := c.bridgeOwner()
	if owner == "" || owner == c.Dir {
		return nil
	}
	other, err := Load(owner)
	if err != nil || !other.running() {
		return nil
	}
	return fmt.Errorf("prefix %q belongs to the testbed running in %s: give its --dir (or another --prefix)", c.Prefix, owner)
}

// running reports whether any process of the testbed runs.
func (st *State) running() bool {
	alive := st.Central.Alive()
	for _, n := range st.Nodes {
		alive = alive || n.Proc.Alive()
	}
	return alive
}

// stopProcs stops the nodes, all at once, then central; it returns how
// many processes it stopped.
func (c *Config) stopProcs(ctx context.Context, st *State) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	n := 0
	for _, nd := range st.Nodes {
		if !nd.Proc.Alive() {
			continue
		}
		wg.Go(func() {
			if nd.Proc.stop(ctx, nodeGrace) {
				c.Log.Warn("node did not stop in time; killed", "node", nd.Hostname)
			}
			fmt.Fprintf(c.Out, "orbis testbed: stopped %s\n", nd.Hostname)
			mu.Lock()
			n++
			mu.Unlock()
		})
	}
	wg.Wait()
	if st.Central.Alive() {
		st.Central.stop(ctx, 10*time.Second)
		fmt.Fprintln(c.Out, "orbis testbed: stopped central")
		n++
	}
	return n
}

// sweep removes every kernel object of the prefix and the mounts under
// Dir, whatever made them.
func (c *Config) sweep(ctx context.Context, r *Removed) error {
	var errs []error
	for _, ns := range ownedNetns(c.Prefix) {
		r.Procs += killAll(ctx, func() []int { return netnsPids(ns) })
	}
	n, err := c.sweepCgroups(ctx)
	r.Cgroups += n
	errs = append(errs, err)
	n, err = unmountUnder(c.Dir)
	r.Mounts += n
	errs = append(errs, err)
	errs = append(errs, c.sweepPins())
	errs = append(errs, c.sweepRunFiles())
	if _, err := nodemgr.DropUIDClaims(nodemgr.DefaultUIDClaimDir, c.Dir); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range ownedNetns(c.Prefix) {
		err := removeNetns(ns)
		if err == nil {
			r.Netns++
		}
		errs = append(errs, err)
	}
	links, err := ownedLinks(c.Prefix)
	errs = append(errs, err)
	for _, l := range links {
		// A veth goes with its peer's namespace, perhaps while we list.
		err := netlink.LinkDel(l)
		if err == nil {
			r.Links++
		} else if !errors.Is(err, unix.ENODEV) {
			errs = append(errs, fmt.Errorf("delete link %s: %w", l.Attrs().Name, err))
		}
	}
	return errors.Join(errs...)
}

// killAll SIGKILLs the processes pids lists until none is left (or a few
// seconds have passed), and returns how many it killed.
func killAll(ctx context.Context, pids func() []int) int {
	killed := map[int]bool{}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := pids()
		if len(l) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return len(killed)
		}
		for _, p := range l {
			if p != os.Getpid() {
				unix.Kill(p, unix.SIGKILL)
				killed[p] = true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweepPins removes the port managers' pinned BPF programs and map of the
// prefix's nodes (a node killed before it could detach them leaves them
// attached); unpinning a link detaches its program.
func (c *Config) sweepPins() error {
	dirs, _ := filepath.Glob(filepath.Join(portmgr.DefaultPinDir, c.Prefix+"-n*"))
	var errs []error
	for _, d := range dirs {
		if _, ok := ownedName(filepath.Base(d), c.Prefix+"-n"); ok {
			errs = append(errs, os.RemoveAll(d))
		}
	}
	return errors.Join(errs...)
}

// sweepCgroups removes the node cgroups of the prefix in every hierarchy,
// killing what still runs in them first.
func (c *Config) sweepCgroups(ctx context.Context) (int, error) {
	hierarchies, _ := os.ReadDir(c.CgroupRoot)
	n := 0
	var errs []error
	for _, h := range hierarchies {
		tops, _ := filepath.Glob(filepath.Join(c.CgroupRoot, h.Name(), c.Prefix+"-n*"))
		for _, top := range tops {
			if _, ok := ownedName(filepath.Base(top), c.Prefix+"-n"); !ok {
				continue
			}
			m, err := removeCgroupTree(ctx, top)
			n += m
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}

// removeCgroupTree kills every process in a cgroup tree and removes its
// directories, deepest first.
func removeCgroupTree(ctx context.Context, top string) (int, error) {
	var dirs []string
	filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	n := 0
	for _, d := range dirs {
		os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0) // v2 only; v1 below
		killAll(ctx, func() []int { return cgroupPids(d) })
		var err error
		for range 50 { // an emptied cgroup may take a moment to be removable
			if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return n, fmt.Errorf("remove cgroup %s: %w", d, err)
		}
		n++
	}
	return n, nil
}

// cgroupPids lists the processes in one cgroup.
func cgroupPids(dir string) []int {
	b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) (int, error) {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// mountsUnder lists the mount points at or below dir in this mount
// namespace, deepest first.
func mountsUnder(dir string) ([]string, error) {
	out, err := mountinfo.PointsUnder(dir)
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, err
}

// lock takes the testbed's lock file, so that two commands never build
// or tear down the same testbed at once.
func lock(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("testbed dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "testbed.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("testbed lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another orbis testbed command is working on %s", dir)
	}
	return func() { f.Close() }, nil
}
