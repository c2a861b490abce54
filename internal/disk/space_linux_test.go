package disk

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/testutil"
)

// smallDisk mounts a tmpfs of size bytes in a fresh state directory,
// unmounted (after the image in it) when the test ends.
func smallDisk(t *testing.T, size int64) string {
	t.Helper()
	dir := stateDir(t)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(filepath.Join(dir, "disk"), unix.MNT_DETACH)
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount the small disk: %v", err)
		}
	})
	return dir
}

// fillFS writes path until its file system is full.
func fillFS(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := len(buf); n > 0; n /= 16 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

func imageBlocks(t *testing.T, path string) (size, blocks int64) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Size, st.Blocks * 512
}

// TestImageAllocated: the btrfs image is allocated on the state disk,
// grows as slivers fill it while the state disk keeps its reserve, and
// Space says when the node must take no new sliver: a full state disk
// never leaves btrfs holding writes it has no room for.
func TestImageAllocated(t *testing.T) {
	testutil.RequireRoot(t)
	dir := smallDisk(t, 900<<20)
	q, err := Open(testutil.Context(t), dir, Options{Force: KindBtrfs, ImageSize: 256 << 20, Reserve: 64 << 20}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	img := filepath.Join(dir, "disk.img")
	if size, blocks := imageBlocks(t, img); blocks < size {
		t.Fatalf("image of %d bytes has %d allocated", size, blocks)
	}
	sp, err := q.Space()
	if err != nil || sp.Full != "" {
		t.Fatalf("empty node: %+v %v", sp, err)
	}
	d, err := q.Create("pl_big", 0)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dd", "if=/dev/zero", "of="+filepath.Join(d, "f"), "bs=1M", "count=200", "conv=fsync").CombinedOutput(); err != nil {
		t.Fatalf("dd: %v: %s", err, out)
	}
	grown, err := q.Space()
	if err != nil || grown.Size <= sp.Size {
		t.Fatalf("the image did not grow as a sliver filled it: %+v -> %+v (%v)", sp, grown, err)
	}
	if size, blocks := imageBlocks(t, img); blocks < size || size <= 256<<20 {
		t.Errorf("grown image: %d bytes, %d allocated", size, blocks)
	}
	fillFS(t, filepath.Join(dir, "filler"))
	full, err := q.Space()
	if err != nil || !strings.Contains(full.Full, "state disk full") {
		t.Errorf("state disk filled: %+v %v", full, err)
	}
	if size, _ := imageBlocks(t, img); size > grown.Size+64<<20 {
		t.Errorf("the image grew into the state disk's reserve: %d bytes", size)
	}
}

// TestSparseImageAllocated: an image an earlier version made sparse is
// allocated at the next Space, and until it is, the node takes no new
// sliver.
func TestSparseImageAllocated(t *testing.T) {
	testutil.RequireRoot(t)
	dir := smallDisk(t, 600<<20)
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 256<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.btrfs", "-q", "-m", "single", "-d", "single", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.btrfs: %v: %s", err, out)
	}
	q, err := Open(testutil.Context(t), dir, Options{Force: KindBtrfs, Reserve: 1 << 20}, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	filler := filepath.Join(dir, "filler")
	fillFS(t, filler)
	if sp, _ := q.Space(); !strings.Contains(sp.Full, "not backed") {
		t.Errorf("sparse image, state disk full: %+v", sp)
	}
	os.Remove(filler)
	if sp, err := q.Space(); err != nil || sp.Full != "" {
		t.Errorf("after room was made: %+v %v", sp, err)
	}
	if size, blocks := imageBlocks(t, img); blocks < size {
		t.Errorf("image of %d bytes has %d allocated", size, blocks)
	}
}
