package mountinfo

import (
	"os"
	"slices"
	"strings"
	"testing"
)

const table = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
36 22 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
37 22 0:31 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
40 22 0:40 / /srv/my\040dir rw - tmpfs my\040src rw,size=64k
41 40 0:41 / /srv/my\040dir/sub rw master:3 - tmpfs none rw
42 22 0:42 / /srv/my rw - tmpfs none rw
not a mountinfo line
43 22 0:43 / /short rw -
`

func TestParse(t *testing.T) {
	mounts, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 6 {
		t.Fatalf("parsed %d mounts, want 6 (two malformed lines skipped): %+v", len(mounts), mounts)
	}
	want := Mount{Point: "/srv/my dir", Options: "rw", FSType: "tmpfs", Source: "my src", SuperOptions: "rw,size=64k"}
	if mounts[3] != want {
		t.Errorf("mount 3 = %+v, want %+v", mounts[3], want)
	}
	if m := mounts[1]; m.FSType != "cgroup" || m.SuperOptions != "rw,cpu,cpuacct" || m.Point != "/sys/fs/cgroup/cpu,cpuacct" {
		t.Errorf("cgroup v1 mount = %+v", m)
	}
}

func TestUnder(t *testing.T) {
	mounts, _ := Parse(strings.NewReader(table))
	for _, c := range []struct {
		dir  string
		want []string
	}{
		{"/srv/my dir", []string{"/srv/my dir", "/srv/my dir/sub"}},
		{"/srv/my", []string{"/srv/my"}}, // not "/srv/my dir": a prefix of a name is not a parent
		{"/nowhere", nil},
		{"/", []string{"/", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/unified", "/srv/my dir", "/srv/my dir/sub", "/srv/my"}},
	} {
		if got := Under(mounts, c.dir); !slices.Equal(got, c.want) {
			t.Errorf("Under(%q) = %q, want %q", c.dir, got, c.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `a\134b`: `a\b`, `tab\011`: "tab\t", `end\04`: `end\04`, `x\999`: `x\999`, "plain": "plain"} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadSelf(t *testing.T) {
	if _, err := os.Stat(SelfFile); err != nil {
		t.Skipf("no %s: not Linux", SelfFile)
	}
	mounts, err := Read(SelfFile)
	if err != nil {
		t.Fatal(err)
	}
	if pts, _ := PointsUnder("/"); len(pts) != len(mounts) || len(mounts) == 0 || !slices.Contains(pts, "/") {
		t.Errorf("PointsUnder(/) = %d points of %d mounts, want all, / among them", len(pts), len(mounts))
	}
}
