package sandbox

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestImageOnTmpfs starts a sliver whose image sits on tmpfs, which Linux
// can idmap only from 6.3: either the sliver runs, or the error names the
// file system and says where the state must live instead.
func TestImageOnTmpfs(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	image := filepath.Join(dir, "image")
	if err := unix.Mkdir(image, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", image, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(image, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", image, err)
		}
	})
	if err := buildBusybox(image); err != nil {
		t.Fatal(err)
	}
	cfg := testSliverOf(t, "orbistest-tmpfs", 300000, image)
	p, err := Start(testutil.Context(t), cfg, Cmd{Args: []string{"true"}}, testutil.Logger(t))
	if err != nil {
		for _, want := range []string{"tmpfs", "ext4, xfs or btrfs", "Linux "} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("start with an image on tmpfs: %v\nthe error does not say %q", err, want)
			}
		}
		t.Logf("this kernel cannot idmap tmpfs, and says so: %v", err)
		return
	}
	if code, err := p.Wait(); code != 0 || err != nil {
		t.Fatalf("true in a sliver whose image is on tmpfs: %d, %v", code, err)
	}
	t.Log("this kernel idmaps tmpfs")
}
