package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestFullDiskKeepsOld writes a file larger than a small tmpfs: the write
// fails with ENOSPC midway, and the old file must be whole and no
// temporary file may stay to fill the disk further.
func TestFullDiskKeepsOld(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	p := filepath.Join(dir, "f")
	old := bytes.Repeat([]byte("o"), 16<<10)
	if err := WriteFile(p, old, 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(p, bytes.Repeat([]byte("n"), 128<<10), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteFile on a full disk = %v, want ENOSPC", err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, old) {
		t.Errorf("the old file has %d bytes after a failed write, want its %d", len(got), len(old))
	}
	if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Errorf("directory holds %v after a failed write, want only f", got)
	}
	// The space is back: the same write of a fitting size succeeds.
	if err := WriteFile(p, []byte("new"), 0o600); err != nil {
		t.Errorf("write after the failure: %v", err)
	}
}
