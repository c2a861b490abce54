package node

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/orbisproject/orbis/internal/cgroup"
)

// Moving a process between cgroups takes the kernel's one cgroup
// threadgroup lock for writing, and the first writer after a quiet spell
// waits a whole RCU grace period for it (rcu_sync: about 10 ms on a
// loaded node); writers that come while one holds it, or just after, do
// not. A new sliver's init enters its cgroups (one move per hierarchy)
// before it runs anything, on the critical path of every sliver start.
// warmAttach pays that wait early, beside the rest of the sliver's
// creation: it moves the agent into the cgroup it is already in (a move
// that changes nothing but takes the lock), so that the init's own moves
// find the lock warm. The kernel holds its cgroup mutex through that
// wait, so the sliver manager warms only once the sliver's cgroups are
// made (a mkdir waits on the mutex), and the wait is moved, not added.

// warmAttacher warms the kernel's cgroup attach lock for a sliver's
// coming init (sliver.Options.WarmAttach).
type warmAttacher struct {
	procs string // the agent's own cgroup.procs in the unified tree

	// mu guards the following.
	mu      sync.Mutex
	running bool
}

// warmAttachFunc is the agent's sliver.Options.WarmAttach (nil outside
// the agent, or without a unified cgroup tree): it warms the attach lock
// through the unified tree of cg, whose parent is cfg.CgroupParent.
func warmAttachFunc(cfg Config, cg cgroup.Manager) func() {
	if !cfg.agent {
		return nil
	}
	top := cg.UnifiedPath("")
	root := strings.TrimSuffix(filepath.Clean(top), "/"+strings.Trim(cfg.CgroupParent, "/"))
	if top == "" || root == filepath.Clean(top) {
		return nil
	}
	if w := newWarmAttacher(root); w != nil {
		return w.warm
	}
	return nil
}

// newWarmAttacher returns a warmAttacher for the unified cgroup tree
// mounted at unifiedRoot, or nil if the agent's place there is unknown.
func newWarmAttacher(unifiedRoot string) *warmAttacher {
	if unifiedRoot == "" {
		return nil
	}
	self, ok := ownUnifiedCgroup("/proc/self/cgroup")
	if !ok {
		return nil
	}
	procs := filepath.Join(unifiedRoot, self, "cgroup.procs")
	if _, err := os.Stat(procs); err != nil {
		return nil
	}
	return &warmAttacher{procs: procs}
}

// warm starts a move of the agent into its own cgroup, unless one is under
// way, and returns at once.
func (w *warmAttacher) warm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running {
		return
	}
	w.running = true
	go func() {
		// An error only means the next init waits for the lock itself.
		os.WriteFile(w.procs, []byte(strconv.Itoa(os.Getpid())), 0)
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()
}

// ownUnifiedCgroup reads the process's cgroup v2 path ("0::/path") from a
// /proc/PID/cgroup file.
func ownUnifiedCgroup(file string) (string, bool) {
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok && strings.HasPrefix(p, "/") && !strings.Contains(p, "..") {
			return p, true
		}
	}
	return "", false
}
