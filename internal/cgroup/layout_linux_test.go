package cgroup

import (
	"maps"
	"strings"
	"testing"
)

// hybridMountinfo is this development machine's mountinfo, trimmed.
const hybridMountinfo = `23 1 0:21 / /sys rw,nosuid - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// comountedMountinfo is a systemd-style v1 layout: cpu and cpuacct share a
// hierarchy, and optional fields precede the separator.
const comountedMountinfo = `25 18 0:22 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:13 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:14 - cgroup cgroup rw,memory
`

const v2Mountinfo = `24 18 0:21 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func TestParseMountinfo(t *testing.T) {
	for _, tc := range []struct {
		name, text, root string
		want             layout
	}{
		{"hybrid", hybridMountinfo, "/sys/fs/cgroup", layout{mode: "v1", unified: "unified", v1: map[string]string{
			"cpu": "cpu", "cpuacct": "cpuacct", "cpuset": "cpuset", "memory": "memory", "pids": "pids", "freezer": "freezer"}}},
		{"comounted", comountedMountinfo, "/sys/fs/cgroup", layout{mode: "v1", unified: "unified", v1: map[string]string{
			"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "memory": "memory"}}},
		{"pure v2", v2Mountinfo, "/sys/fs/cgroup", layout{mode: "v2", unified: "."}},
		{"hybrid's unified tree as a v2 root", hybridMountinfo, "/sys/fs/cgroup/unified", layout{mode: "v2", unified: "."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountinfo(strings.NewReader(tc.text), tc.root)
			if err != nil {
				t.Fatal(err)
			}
			if got.mode != tc.want.mode || got.unified != tc.want.unified || !maps.Equal(got.v1, tc.want.v1) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if _, err := parseMountinfo(strings.NewReader(hybridMountinfo), "/mnt"); err == nil {
		t.Error("no cgroups under /mnt: want an error")
	}
}

func TestLayoutHierarchies(t *testing.T) {
	l := layout{mode: "v1", unified: "unified", v1: map[string]string{"cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "memory": "memory"}}
	got := strings.Join(l.hierarchies(), " ")
	if want := "cpu,cpuacct memory unified"; got != want {
		t.Errorf("hierarchies() = %q, want %q", got, want)
	}
}
