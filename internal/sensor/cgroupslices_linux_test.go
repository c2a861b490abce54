package sensor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestCgroupSlicesReal measures a busy process in a real cgroup.
func TestCgroupSlicesReal(t *testing.T) {
	testutil.RequireRoot(t)
	const root = "/sys/fs/cgroup"
	parent := fmt.Sprintf("orbistest-sensor-%d", os.Getpid())
	m, err := cgroup.New(root, parent, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Remove(ctx, "busy"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		dirs, _ := filepath.Glob(filepath.Join(root, "*", parent))
		if m.Mode() == "v2" {
			dirs = append(dirs, filepath.Join(root, parent))
		}
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	if err := m.Set("busy", cgroup.Resources{}); err != nil {
		t.Fatal(err)
	}
	// The process allocates after it is moved: a move carries no charge.
	cmd := exec.Command("sh", "-c", `sleep 0.2; x=$(head -c 2000000 /dev/zero | tr '\0' a); while :; do :; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if err := m.Enter("busy", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	src := &CgroupSlices{Groups: []cgroup.Manager{m}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := samplesByName(t, src)["busy"]
		memOK := got.MemoryBytes > 0 || !slices.Contains(m.Controllers(), "memory")
		if got.Procs >= 1 && got.CPUUsage >= 50*time.Millisecond && memOK {
			t.Logf("sample: %+v", got)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sample of a busy cgroup: %+v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
