// Package slivertest gives other packages' tests a real sliver Manager on
// this machine: cgroups under a test-only parent, a btrfs disk image and a
// busybox reference image in a temporary directory, all removed when the
// test ends. Tests using it need root.
package slivertest

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/testutil"
)

// NewManager returns a real sliver Manager whose cgroups live under
// "orbistest-<what>-<pid>". Every sliver left at the end of the test is
// destroyed, and the cgroups, disk image and files removed.
func NewManager(t testing.TB, what string) *sliver.Manager {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	log := testutil.Logger(t)
	state := t.TempDir()
	images := rootfs.NewStore(state, rootfs.Options{}, log)
	if _, err := images.Build(ctx, "busybox", rootfs.KindBusybox, nil); err != nil {
		t.Fatalf("build image: %v", err)
	}
	dq, err := disk.Open(ctx, state, disk.Options{ImageSize: 1 << 30}, log)
	if err != nil {
		t.Fatalf("open disk: %v", err)
	}
	t.Cleanup(func() { dq.Close() })
	parent := fmt.Sprintf("orbistest-%s-%d", what, os.Getpid())
	cg, err := cgroup.New("/sys/fs/cgroup", parent, log)
	if err != nil {
		t.Fatal(err)
	}
	fair, err := cgroup.New("/sys/fs/cgroup", parent+"/fair", log)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sliver.NewManager(sliver.Options{StateDir: state + "/slivers", Cgroups: cg, Fair: fair, Disk: dq,
		Images: images, DefaultImage: "busybox", NumCPU: runtime.NumCPU(), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		names, _ := m.List(context.Background())
		for _, name := range names {
			if err := m.Destroy(context.Background(), name); err != nil {
				t.Errorf("cleanup: destroy %s: %v", name, err)
			}
		}
		testutil.RemoveNodeCgroups(t, "/sys/fs/cgroup", parent)
	})
	return m
}
