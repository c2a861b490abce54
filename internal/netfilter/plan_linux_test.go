package netfilter

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testSlivers are two slivers with adjacent UID ranges, and one whose
// range crosses from one UID part to the next.
func testSlivers() []Sliver {
	return []Sliver{
		{Name: "alice", UIDBase: 100000, UIDCount: 65536, Index: 1},
		{Name: "bob", UIDBase: 165536, UIDCount: 65536, Index: 2},
		{Name: "carol", UIDBase: 1_000_000, UIDCount: 100_000, Index: 5},
	}
}

// TestPlanGolden checks, without privilege, the rules Set asks the kernel
// for, in `nft --debug=netlink` form (TestKernelRuleset then checks the
// kernel holds them).
func TestPlanGolden(t *testing.T) {
	got := Plan("orbis", testSlivers())
	const golden = "testdata/plan.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("plan differs from %s (rerun with -update to accept):\n%s", golden, got)
	}
}

func TestPriority(t *testing.T) {
	for _, tc := range []struct {
		index     uint32
		main, low uint32
	}{
		{1, 0x10011, 0x18011},
		{MaxIndex, 0x17fff, 0x1ffff},
	} {
		if got := Priority(tc.index); got != tc.main {
			t.Errorf("Priority(%d) = %#x, want %#x", tc.index, got, tc.main)
		}
		if got := LowPriority(tc.index); got != tc.low {
			t.Errorf("LowPriority(%d) = %#x, want %#x", tc.index, got, tc.low)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Sliver{Name: "a", UIDBase: 100000, UIDCount: 65536, Index: 1}
	bad := map[string]Sliver{
		"no name":      {UIDBase: 1, UIDCount: 1, Index: 1},
		"slash":        {Name: "a/b", UIDBase: 1, UIDCount: 1, Index: 1},
		"index 0":      {Name: "a", UIDBase: 1, UIDCount: 1},
		"index high":   {Name: "a", UIDBase: 1, UIDCount: 1, Index: MaxIndex + 1},
		"no uids":      {Name: "a", UIDBase: 1, Index: 1},
		"uid overflow": {Name: "a", UIDBase: 0xffffff00, UIDCount: 0x1000, Index: 1},
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid sliver refused: %v", err)
	}
	for name, s := range bad {
		if s.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
