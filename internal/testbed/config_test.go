package testbed

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

// TestConfig checks the names and addresses a testbed would use, and
// that bad input is refused with a message that names it.
func TestConfig(t *testing.T) {
	c := Config{Dir: "rel", Nodes: 3, Binary: "/bin/true"}
	if err := c.defaults(); err != nil {
		t.Fatal(err)
	}
	if err := c.checkUp(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Dir, "/") {
		t.Errorf("dir %q is not absolute", c.Dir)
	}
	a3, _ := c.nodeAddr(3)
	got := []string{c.bridge(), c.veth(3), c.netnsPath(3), c.cgroupParent(3), c.hostAddr().String(), a3.String(), c.centralURL()}
	want := []string{"orbtb0", "orbtb3", "/run/netns/orbtb-n3", "orbtb-n3", "10.213.0.1", "10.213.0.13", "https://10.213.0.1:8780"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("names\n got %v\nwant %v", got, want)
	}
	// Each node's UID ranges end before the next node's begin.
	if end := c.uidBase(1) + c.UIDRanges*65536; end > c.uidBase(2) || c.uidBase(1) < c.UIDBase {
		t.Errorf("node 1's UIDs [%d, %d) overlap node 2's from %d", c.uidBase(1), end, c.uidBase(2))
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		msg  string
	}{
		{"no nodes", Config{Nodes: 0}, "--nodes 0"},
		{"too many nodes", Config{Nodes: MaxNodes + 1}, "--nodes"},
		{"prefix too long", Config{Nodes: 1, Prefix: "abcdefghijklm"}, "prefix"},
		{"prefix ends in a digit", Config{Nodes: 1, Prefix: "orb1"}, "prefix"},
		{"prefix upper case", Config{Nodes: 1, Prefix: "Orb"}, "prefix"},
		{"small subnet", Config{Nodes: 1, Subnet: netip.MustParsePrefix("10.9.0.0/28")}, "subnet"},
		{"subnet too full", Config{Nodes: 60, Subnet: netip.MustParsePrefix("10.9.0.0/26")}, "no room"},
		{"IPv6 subnet", Config{Nodes: 1, Subnet: netip.MustParsePrefix("fd00::/64")}, "subnet"},
		{"UIDs overflow", Config{Nodes: 40, UIDBase: 4_000_000_000}, "32-bit UIDs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Binary = "/bin/true"
			err := tc.cfg.defaults()
			if err == nil {
				err = tc.cfg.checkUp()
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want an error about %q", err, tc.msg)
			}
		})
	}
}

// TestOwnedName: a prefix owns its own names only, never those of a
// longer prefix that starts with it.
func TestOwnedName(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		owned        bool
	}{
		{"orbtb0", "orbtb", true},
		{"orbtb12", "orbtb", true},
		{"orbtb", "orbtb", false},
		{"orbtbx0", "orbtb", false},
		{"orbtb01", "orbtb", false},
		{"orbtb1a", "orbtb", false},
		{"orbtb-n2", "orbtb-n", true},
		{"eth0", "orbtb", false},
	} {
		if _, ok := ownedName(tc.name, tc.prefix); ok != tc.owned {
			t.Errorf("ownedName(%q, %q) = %v, want %v", tc.name, tc.prefix, ok, tc.owned)
		}
	}
}

// TestProc: a process is alive until it ends, and a record with another
// start time (a reused pid) is never taken for it.
func TestProc(t *testing.T) {
	p := Proc{Pid: os.Getpid()}
	_, start, err := procStat(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	p.Start = start
	if !p.Alive() {
		t.Error("this process is not alive")
	}
	if (Proc{Pid: p.Pid, Start: start + 1}).Alive() {
		t.Error("a reused pid counts as alive")
	}
	if (Proc{}).Alive() {
		t.Error("pid 0 counts as alive")
	}
}
