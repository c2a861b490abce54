package sliver

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestHostileFiles plants, as a sliver's root, what the node's file
// install must not trip over, where the node keeps its files: each shape
// once, then an update that revokes a key, lowers the memory limit and
// changes the boot script. The update must take effect whatever the
// sliver planted (the key is gone from the spec the SSH gateway trusts,
// the cgroup holds the new limit), the status must say what was in the
// way, and the files must be written all the same, the sliver's things
// moved aside. A final stop must stop the sliver. It runs on an idle
// sliver (the files go into its writable layer) and on a running one (its
// init writes them through the sliver's root mount).
func TestHostileFiles(t *testing.T) {
	n := newNode(t)
	t.Run("idle", func(t *testing.T) { hostileFiles(t, n, "pl_hostile", false) })
	t.Run("running", func(t *testing.T) { hostileFiles(t, n, "pl_hostilerun", true) })
}

func hostileFiles(t *testing.T, n *node, name string, running bool) {
	const mib = 1 << 20
	s := n.create(name, api.Rspec{MemoryMax: 512 * mib}, "echo boot")
	if running {
		if _, err := n.m.Exec(n.ctx, name, shCmd("exec sleep 1000")); err != nil {
			t.Fatal(err)
		}
	}
	keys := []string{}
	for i := range 6 {
		keys = append(keys, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOrbisKey"+strconv.Itoa(i)+" k"+strconv.Itoa(i)+"@orbis")
	}
	shapes := []struct {
		what, plant, want string
	}{
		{"symlink out of the sliver", "rm -rf /root/.ssh && ln -s /nonexistent /root/.ssh", "/root/.ssh was a symlink"},
		{"FIFO where a directory goes", "rm -rf /root/.ssh && mkfifo /root/.ssh", "/root/.ssh was a FIFO"},
		{"file where a directory goes", "rm -rf /etc && echo x > /etc", "/etc was a file"},
		{"directory where a file goes", "rm -rf /root/.ssh/authorized_keys && mkdir -p /root/.ssh/authorized_keys/x", "/root/.ssh/authorized_keys was a directory"},
		{"symlink loop", "rm -rf /root && ln -s root /root", "/root was a symlink"},
		{"FIFO and loop at the files", "rm -f /etc/rc.vinit /root/.ssh/authorized_keys && mkfifo /etc/rc.vinit && ln -s authorized_keys /root/.ssh/authorized_keys", ""},
	}
	for i, sh := range shapes {
		t.Run(sh.what, func(t *testing.T) {
			n.mustRun(name, sh.plant)
			s.Keys = keys[i+1:]
			s.Rspec.MemoryMax -= 16 * mib
			s.InitScript = "echo boot " + strconv.Itoa(i)
			if err := n.m.Update(n.ctx, s); err != nil {
				t.Fatalf("update: %v", err)
			}
			got, err := n.m.Login(name)
			if err != nil || slices.Contains(got.Keys, keys[i]) {
				t.Errorf("after revoking %q the node trusts %q (%v)", keys[i], got.Keys, err)
			}
			if lim := memoryLimit(t, n, name); lim != s.Rspec.MemoryMax {
				t.Errorf("memory limit %d, want %d", lim, s.Rspec.MemoryMax)
			}
			st, err := n.m.Status(n.ctx, name)
			if err != nil || !strings.Contains(st.Reason, sh.want) {
				t.Errorf("status %+v (%v), want a reason naming %q", st, err, sh.want)
			}
			ak := n.mustRun(name, "cat /root/.ssh/authorized_keys")
			if ak != strings.Join(s.Keys, "\n") {
				t.Errorf("authorized_keys in the sliver: %q, want %q", ak, s.Keys)
			}
			if own := n.mustRun(name, "stat -c '%u %g %a' /root/.ssh /root/.ssh/authorized_keys "+BootScript); own != "0 0 700\n0 0 600\n0 0 755" {
				t.Errorf("owners and modes of the node's files in the sliver: %q", own)
			}
			if boot := n.mustRun(name, "cat "+BootScript); boot != s.InitScript {
				t.Errorf("boot script in the sliver: %q, want %q", boot, s.InitScript)
			}
		})
	}
	// An update with nothing in the way clears the reason.
	if err := n.m.Update(n.ctx, s); err != nil {
		t.Fatal(err)
	}
	if st, _ := n.m.Status(n.ctx, name); st.Reason != "" {
		t.Errorf("reason after a clean update: %q", st.Reason)
	}
	n.mustRun(name, "rm -rf /root/.ssh && ln -s /nonexistent /root/.ssh")
	if err := n.m.Stop(n.ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if st, _ := n.m.Status(n.ctx, name); st.State != StateStopped || st.Procs != 0 {
		t.Errorf("after stop: %+v", st)
	}
	if _, err := n.m.Login(name); err == nil {
		t.Error("a stopped sliver still takes logins")
	}
}

// memoryLimit is the memory limit of the sliver's cgroup as the kernel
// reports it.
func memoryLimit(t *testing.T, n *node, name string) int64 {
	t.Helper()
	p := n.m.opts.Fair.UnifiedPath(name)
	file := "memory.max"
	if mem := strings.Replace(p, "/unified/", "/memory/", 1); mem != p {
		p, file = mem, "memory.limit_in_bytes"
	}
	b, err := os.ReadFile(filepath.Join(p, file))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %q", file, b)
	}
	return v
}

// TestSliverCgroupView checks that a sliver sees only "/" as its cgroup,
// in every hierarchy, never a host path naming the node's groups or
// another slice.
func TestSliverCgroupView(t *testing.T) {
	n := newNode(t)
	n.create("pl_cgview", api.Rspec{MemoryMax: 256 << 20}, "")
	n.create("pl_cgother", api.Rspec{CPUGuarantee: 100}, "")
	out := n.mustRun("pl_cgview", "cat /proc/self/cgroup /proc/1/cgroup")
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasSuffix(line, ":/") || strings.Contains(line, "pl_") || strings.Contains(line, "orbis") {
			t.Errorf("the sliver sees cgroup %q, want \"/\" only", line)
		}
	}
}
