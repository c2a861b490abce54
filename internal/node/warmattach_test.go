package node

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

func TestOwnUnifiedCgroup(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"4:memory:/a\n0::/system.slice/orbis.service\n", "/system.slice/orbis.service", true},
		{"0::/\n", "/", true},
		{"1:cpu:/\n", "", false},
		{"0::/a/../b\n", "", false},
		{"0::relative\n", "", false},
	} {
		f := filepath.Join(t.TempDir(), "cgroup")
		if err := os.WriteFile(f, []byte(tc.in), 0o600); err != nil {
			t.Fatal(err)
		}
		got, ok := ownUnifiedCgroup(f)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestWarmAttach: warming the attach lock, in a burst of calls, ends and
// leaves the process where it was in every cgroup hierarchy.
func TestWarmAttach(t *testing.T) {
	testutil.RequireRoot(t)
	before, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	w := newWarmAttacher("/sys/fs/cgroup/unified")
	if w == nil {
		w = newWarmAttacher("/sys/fs/cgroup")
	}
	if w == nil {
		t.Fatal("no unified cgroup tree to warm the attach lock through")
	}
	for range 10 {
		w.warm()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.mu.Lock()
		running := w.running
		w.mu.Unlock()
		if !running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the warm-up move did not end")
		}
		time.Sleep(time.Millisecond)
	}
	after, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(before) {
		t.Errorf("warming moved the process:\nbefore %s\nafter %s", before, after)
	}
}
