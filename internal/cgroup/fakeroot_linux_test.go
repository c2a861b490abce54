package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// fakeRoot builds, in a temporary directory, the files a kernel would
// show (path -> content; a path ending in "/" is a directory), and returns
// a manager over it with every write recorded as "path=value".
func fakeRoot(t *testing.T, lay layout, files map[string]string) (*manager, *[]string) {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rfs, err := openRootFS(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rfs.Close() })
	var writes []string
	rfs.trace = func(rel, value string) { writes = append(writes, rel+"="+value) }
	m, err := newManager(rfs, root, "orbis", lay, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return m, &writes
}

// cgroupFiles lists the interface files of one cgroup directory.
func cgroupFiles(dir string, names ...string) map[string]string {
	files := map[string]string{}
	for _, n := range names {
		files[dir+"/"+n] = ""
	}
	return files
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func checkWrites(t *testing.T, got *[]string, want ...string) {
	t.Helper()
	if !slices.Equal(*got, want) {
		t.Errorf("writes:\n  %s\nwant:\n  %s", strings.Join(*got, "\n  "), strings.Join(want, "\n  "))
	}
	*got = nil
}

var v2Files = []string{"cgroup.procs", "cgroup.kill", "cgroup.subtree_control", "cgroup.events",
	"cpu.weight", "cpu.max", "cpu.stat", "cpuset.cpus", "memory.max", "memory.low",
	"memory.swap.max", "memory.current", "memory.events", "pids.max", "pids.current"}

// TestV2Writes checks the files pure cgroup v2 mode writes, against a fake
// root, since this machine cannot boot pure v2.
func TestV2Writes(t *testing.T) {
	const d = "orbis/princeton_codeen"
	m, writes := fakeRoot(t, layout{mode: "v2", unified: "."}, merge(
		map[string]string{"cgroup.controllers": "cpuset cpu io memory hugetlb pids rdma misc", "cgroup.subtree_control": ""},
		cgroupFiles("orbis", "cgroup.subtree_control"),
		cgroupFiles(d, v2Files...),
	))
	checkWrites(t, writes,
		"cgroup.subtree_control=+cpu", "orbis/cgroup.subtree_control=+cpu",
		"cgroup.subtree_control=+cpuset", "orbis/cgroup.subtree_control=+cpuset",
		"cgroup.subtree_control=+memory", "orbis/cgroup.subtree_control=+memory",
		"cgroup.subtree_control=+pids", "orbis/cgroup.subtree_control=+pids")
	if got := strings.Join(m.Controllers(), ","); got != "cpu,cpuset,memory,pids" {
		t.Errorf("Controllers() = %s", got)
	}
	if got, want := m.UnifiedPath("princeton_codeen"), filepath.Join(m.root, d); got != want {
		t.Errorf("UnifiedPath = %s, want %s", got, want)
	}

	r := Resources{CPUWeight: 4, CPUQuota: 50000, CPUSet: "0", MemoryMax: 64 << 20, MemoryLow: 16 << 20, PidsMax: 100}
	if err := m.Set("princeton_codeen", r); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, writes, d+"/cpu.weight=400", d+"/cpu.max=50000 100000", d+"/cpuset.cpus=0\n",
		d+"/memory.max=67108864", d+"/memory.low=16777216", d+"/memory.swap.max=0", d+"/pids.max=100")

	if err := m.Set("princeton_codeen", Resources{}); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, writes, d+"/cpu.weight=100", d+"/cpu.max=max 100000", d+"/cpuset.cpus=\n",
		d+"/memory.max=max", d+"/memory.low=0", d+"/memory.swap.max=max", d+"/pids.max=max")

	if err := m.Enter("princeton_codeen", 4242); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, writes, d+"/cgroup.procs=4242")
}

func TestV2Stats(t *testing.T) {
	const d = "orbis/s1"
	m, _ := fakeRoot(t, layout{mode: "v2", unified: "."}, merge(
		map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": ""},
		cgroupFiles("orbis", "cgroup.subtree_control"),
		map[string]string{
			d + "/cgroup.procs":   "17\n5\n",
			d + "/cpu.stat":       "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
			d + "/memory.current": "1048576\n",
			d + "/memory.events":  "low 0\nhigh 0\nmax 9\noom 3\noom_kill 2\noom_group_kill 0\n",
			d + "/pids.current":   "7\n",
		},
	))
	st, err := m.Stats("s1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{CPUUsage: 1500 * 1e6, MemoryCurrent: 1 << 20, Pids: 7, OOMKills: 2}); st != want {
		t.Errorf("Stats = %+v, want %+v", st, want)
	}
	procs, err := m.Procs("s1")
	if err != nil || !slices.Equal(procs, []int{5, 17}) {
		t.Errorf("Procs = %v, %v; want [5 17]", procs, err)
	}
	if got, err := m.List(); err != nil || !slices.Equal(got, []string{"s1"}) {
		t.Errorf("List = %v, %v; want [s1]", got, err)
	}
}

// TestV2MissingControllers checks that a v2 node without the pids
// controller says so and refuses a process limit instead of ignoring it.
func TestV2MissingControllers(t *testing.T) {
	m, writes := fakeRoot(t, layout{mode: "v2", unified: "."}, merge(
		map[string]string{"cgroup.controllers": "cpu memory", "cgroup.subtree_control": ""},
		cgroupFiles("orbis", "cgroup.subtree_control"),
		cgroupFiles("orbis/s1", v2Files...),
	))
	*writes = nil
	if got := strings.Join(m.Controllers(), ","); got != "cpu,memory" {
		t.Errorf("Controllers() = %s, want cpu,memory", got)
	}
	err := m.Set("s1", Resources{PidsMax: 10})
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Set(PidsMax) = %v, want ErrUnsupported", err)
	}
	checkWrites(t, writes)
}

// TestV1Writes checks the hybrid mode's writes, co-mounted cpu,cpuacct
// included, and the memsw ordering the kernel insists on.
func TestV1Writes(t *testing.T) {
	lay := layout{mode: "v1", unified: "unified", v1: map[string]string{
		"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "cpuset": "cpuset", "memory": "memory", "pids": "pids", "freezer": "freezer"}}
	files := map[string]string{"cpuset/orbis/cpuset.cpus": "0-1\n", "unified/orbis/": ""}
	for _, h := range []string{"cpu,cpuacct", "cpuset", "memory", "pids", "freezer", "unified"} {
		files[h+"/orbis/s1/cgroup.procs"] = ""
	}
	files = merge(files,
		cgroupFiles("cpu,cpuacct/orbis/s1", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"),
		cgroupFiles("cpuset/orbis/s1", "cpuset.cpus", "cpuset.mems"),
		cgroupFiles("memory/orbis/s1", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.oom_control"),
		cgroupFiles("pids/orbis/s1", "pids.max"),
		map[string]string{"memory/orbis/s1/memory.limit_in_bytes": "9223372036854771712\n"})
	m, writes := fakeRoot(t, lay, files)
	checkWrites(t, writes)

	if err := m.Set("s1", Resources{CPUWeight: 4, CPUQuota: 25000, CPUSet: "1", MemoryMax: 64 << 20, MemoryLow: 8 << 20, PidsMax: 64}); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, writes,
		"cpu,cpuacct/orbis/s1/cpu.shares=4096", "cpu,cpuacct/orbis/s1/cpu.cfs_period_us=100000", "cpu,cpuacct/orbis/s1/cpu.cfs_quota_us=25000",
		"cpuset/orbis/s1/cpuset.cpus=1\n",
		"memory/orbis/s1/memory.limit_in_bytes=67108864", "memory/orbis/s1/memory.memsw.limit_in_bytes=67108864",
		"memory/orbis/s1/memory.soft_limit_in_bytes=8388608", "memory/orbis/s1/memory.oom_control=0",
		"pids/orbis/s1/pids.max=64")

	// Raising the limit must write memsw first; no limit means the parent's CPUs.
	if err := m.Set("s1", Resources{MemoryMax: 128 << 20}); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, writes,
		"cpu,cpuacct/orbis/s1/cpu.shares=1024", "cpu,cpuacct/orbis/s1/cpu.cfs_period_us=100000", "cpu,cpuacct/orbis/s1/cpu.cfs_quota_us=-1",
		"cpuset/orbis/s1/cpuset.cpus=0-1\n",
		"memory/orbis/s1/memory.memsw.limit_in_bytes=134217728", "memory/orbis/s1/memory.limit_in_bytes=134217728",
		"memory/orbis/s1/memory.soft_limit_in_bytes=-1", "memory/orbis/s1/memory.oom_control=0",
		"pids/orbis/s1/pids.max=max")

	if err := m.Enter("s1", 99); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, writes, "cpu,cpuacct/orbis/s1/cgroup.procs=99", "cpuset/orbis/s1/cgroup.procs=99",
		"freezer/orbis/s1/cgroup.procs=99", "memory/orbis/s1/cgroup.procs=99", "pids/orbis/s1/cgroup.procs=99",
		"unified/orbis/s1/cgroup.procs=99")
}

// TestRootFSRefusesSymlinks checks that a symlink planted in a cgroup
// path cannot redirect a write out of the root.
func TestRootFSRefusesSymlinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(outside, []byte("safe"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(root, "evil")); err != nil {
		t.Fatal(err)
	}
	rfs, err := openRootFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer rfs.Close()
	for _, rel := range []string{"evil/victim", "../" + filepath.Base(filepath.Dir(outside)) + "/victim"} {
		if err := rfs.write(rel, "pwned"); err == nil {
			t.Errorf("write through %s succeeded", rel)
		}
	}
	if _, err := rfs.mkdir("evil/newdir"); err == nil {
		t.Error("mkdir through a symlink succeeded")
	}
	if b, _ := os.ReadFile(outside); string(b) != "safe" {
		t.Errorf("file outside the root became %q", b)
	}
}
