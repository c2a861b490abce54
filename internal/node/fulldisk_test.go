package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

// smallStateDisk mounts a file system of size bytes (a tmpfs) for a
// node's state directory, unmounted when the test ends.
func smallStateDisk(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Fatalf("mount a small state disk: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount the state disk: %v", err)
		}
	})
	return dir
}

// fillDisk writes to a file in dir until the file system is full, and
// returns a function that frees the space.
func fillDisk(t *testing.T, dir string) (free func()) {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = 0xa5
	}
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill the state disk: %v", err)
			}
			break
		}
	}
	// Fill the last blocks too.
	for _, n := range []int{4096, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	return func() { os.Remove(p) }
}

// sshRun runs command in slice through the gateway at addr with key and
// returns its output.
func sshRun(addr, slice string, key ssh.Signer, command string) (string, error) {
	c, err := sshDial(addr, slice, key)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(command)
	return string(out), err
}

// fullDiskEntry runs a node agent with its SSH gateway on a small state
// disk: a btrfs image of 256 MiB and a reserve of 32 MiB.
const fullDiskEntry = "orbis-test-full-node"

func init() { registerSSHNode(fullDiskEntry, disk.Options{ImageSize: 256 << 20, Reserve: 32 << 20}) }

// TestFullStateDisk fills the node's state disk, as anything on the node
// may, and checks that no write a sliver was told is done is lost (the
// issue: a sparse disk image let cp and sync succeed, and then read back
// zeros), that logging in to a running and to an idle sliver still works,
// and that the node says its disk is full and takes no new sliver until
// space comes back.
func TestFullStateDisk(t *testing.T) {
	testutil.RequireRoot(t)
	state := smallStateDisk(t, 768<<20)
	ctx := testutil.Context(t)
	tn, n, addr := startNodeEntry(t, fullDiskEntry, state, "full")
	key := newSigner(t)
	bindKey := func(name, script string) error {
		rc, err := tn.client.Acquire(ctx, api.Rspec{Privileges: api.Privileges{CreateSliver: true}})
		if err != nil {
			return err
		}
		if err := tn.client.Bind(ctx, name, rc, api.BindAttrs{Keys: authorized(key), InitScript: script}); err != nil {
			return errors.Join(err, tn.client.Release(ctx, rc))
		}
		return nil
	}
	for _, s := range []struct{ name, script string }{{"pl_busy", "exec sleep 1000"}, {"pl_idle", ""}} {
		if err := bindKey(s.name, s.script); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "pl_idle idle, pl_busy running", func() bool {
		return sliverInfo(t, tn, "pl_idle").Procs == 0 && sliverInfo(t, tn, "pl_busy").Procs > 0
	})

	free := fillDisk(t, state)
	t.Cleanup(free)
	// The sliver writes and syncs 30 MB; what it is told is done must
	// stay done.
	var out strings.Builder
	p, err := n.Slivers.Exec(ctx, "pl_busy", sandbox.Cmd{Args: []string{"/bin/sh", "-c",
		"dd if=/dev/urandom of=/root/src bs=1M count=30 2>/dev/null && cp /root/src /root/copy && sync && sha256sum /root/src | cut -d' ' -f1"},
		Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	code, err := p.Wait()
	acked := err == nil && code == 0
	t.Logf("write with the state disk full: exit %d %v: %s", code, err, out.String())
	for _, name := range []string{"pl_busy", "pl_idle"} {
		got, err := sshRun(addr, name, key, "echo in-sliver")
		if err != nil || !strings.Contains(got, "in-sliver") {
			t.Errorf("ssh to %s with the state disk full: %v: %q", name, err, got)
		}
	}
	waitUntil(t, "the node says its disk is full", func() bool {
		l, err := tn.client.List(ctx)
		return err == nil && len(l.Problems) > 0 && strings.Contains(l.Problems[0], "state disk full")
	})
	// Refused, with a clear error: the node manager cannot even store
	// the rcap.
	if err := bindKey("pl_new", ""); err == nil || !strings.Contains(err.Error(), "state disk full") && !strings.Contains(err.Error(), "no space left") {
		t.Errorf("a new sliver on a full node: %v", err)
	}

	// Down to its reserve but not out, the node refuses new slivers
	// itself, and says why.
	st, err := os.Stat(filepath.Join(state, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(state, "filler"), st.Size()-16<<20); err != nil {
		t.Fatal(err)
	}
	time.Sleep(diskCheckEvery + time.Second)
	if err := bindKey("pl_new", ""); err == nil || !strings.Contains(err.Error(), "takes no new sliver now: state disk full") {
		t.Errorf("a new sliver on a node down to its disk reserve: %v", err)
	}

	free()
	waitUntil(t, "the node takes slivers again", func() bool {
		l, err := tn.client.List(ctx)
		return err == nil && len(l.Problems) == 0
	})
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if acked {
		want := strings.TrimSpace(out.String())
		out.Reset()
		runInOut(t, n, "pl_busy", "sha256sum /root/copy | cut -d' ' -f1", &out)
		if got := strings.TrimSpace(out.String()); got != want {
			t.Errorf("a copy the sliver was told is on disk reads back otherwise: sha256 %s, want %s", got, want)
		}
	}
	if err := bindKey("pl_new", ""); err != nil {
		t.Errorf("a new sliver once space is back: %v", err)
	}
}
