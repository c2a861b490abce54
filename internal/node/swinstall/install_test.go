package swinstall

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/manifest"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/sliver/slivertest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// fakeCentral serves manifests and blobs from trees, counting what it
// sends.
type fakeCentral struct {
	// mu guards the following.
	mu        sync.Mutex
	manifests map[string][]byte
	blobs     map[string][]byte
	sentBlobs []string
	sentBytes int64
	reports   []api.SoftwareReport
}

func newFakeCentral() *fakeCentral {
	return &fakeCentral{manifests: map[string][]byte{}, blobs: map[string][]byte{}}
}

// push adds the tree of dir and returns its software at dest.
func (f *fakeCentral) push(t *testing.T, dir, dest string) api.SliverSoftware {
	t.Helper()
	tree, err := manifest.FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	hashes, _ := tree.Manifest.Blobs()
	need := map[string]bool{}
	for _, h := range hashes {
		need[h] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tree.EachBlob(need, func(h string, _ int64, r io.Reader) error {
		f.blobs[h], _ = io.ReadAll(r)
		return nil
	})
	data := tree.Manifest.Encode()
	f.manifests[manifest.Hash(data)] = data
	f.sentBlobs, f.sentBytes = nil, 0
	return api.SliverSoftware{Manifest: manifest.Hash(data), Dest: dest}
}

func (f *fakeCentral) Slivers(ctx context.Context, since int64) (api.Slivers, error) {
	<-ctx.Done()
	return api.Slivers{}, ctx.Err()
}

func (f *fakeCentral) SoftwareManifest(_ context.Context, _, hash string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.manifests[hash], nil
}

func (f *fakeCentral) SoftwareBlobs(_ context.Context, _ string, hashes []string, fn func(string, int64, io.Reader) error) error {
	for _, h := range hashes {
		f.mu.Lock()
		b := f.blobs[h]
		f.sentBlobs = append(f.sentBlobs, h)
		f.sentBytes += int64(len(b))
		f.mu.Unlock()
		if err := fn(h, int64(len(b)), bytes.NewReader(b)); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeCentral) SoftwareReport(_ context.Context, reps []api.SoftwareReport) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reports = append(f.reports, reps...)
	return nil
}

func (f *fakeCentral) last() api.SoftwareReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reports[len(f.reports)-1]
}

var uidNext uint32 = 3900000

// newSliver makes and starts a real sliver.
func newSliver(t *testing.T, m *sliver.Manager, name string) sliver.Spec {
	uidNext += 65536
	s := sliver.Spec{Name: name, UIDBase: uidNext, UIDCount: 65536}
	ctx := testutil.Context(t)
	if err := m.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	return s
}

// sh runs a shell command in the sliver as its root.
func sh(t *testing.T, m *sliver.Manager, name, cmd string) string {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(testutil.Context(t), 20*time.Second)
	defer cancel()
	p, err := m.Exec(ctx, name, sandbox.Cmd{Args: []string{"/bin/sh", "-c", cmd}, Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatalf("exec %q: %v", cmd, err)
	}
	p.Wait()
	return out.String()
}

func write(t *testing.T, dir, rel, content string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, rel)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
}

// TestInstallIntoSliver pushes a tree into a real sliver, changes one
// file and pushes again: only that blob travels, the sliver sees the new
// content owned by its root, a removed file goes, the hook runs, and a
// symlink the sliver planted in the tree is replaced, not followed.
func TestInstallIntoSliver(t *testing.T) {
	m := slivertest.NewManager(t, "swinstall")
	const name = "orbistest_sw"
	spec := newSliver(t, m, name)
	fc := newFakeCentral()
	a := &agent{opts: Options{Central: fc, Slivers: m, HookTimeout: 10 * time.Second, Log: testutil.Logger(t)}}
	var err error
	if a.cache, err = OpenCache(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t)
	src := t.TempDir()
	for i := range 5 {
		write(t, src, fmt.Sprintf("lib/f%d", i), strings.Repeat(fmt.Sprint(i), 1000), 0o644)
	}
	write(t, src, "bin/app", "version 1\n", 0o755)
	write(t, src, "old", "to be removed\n", 0o644)
	write(t, src, ".orbis/update", "#!/bin/sh\necho \"hook $ORBIS_MANIFEST\" >> /var/log/update.log\necho hook-ran\n", 0o755)

	sw := fc.push(t, src, "/opt/"+name)
	if err := a.update(ctx, name, sw); err != nil {
		t.Fatalf("first install: %v", err)
	}
	if got := len(fc.sentBlobs); got != 8 {
		t.Errorf("first push fetched %d blobs, want 8", got)
	}
	if out := sh(t, m, name, "cat /opt/"+name+"/bin/app; stat -c '%u %a' /opt/"+name+"/bin/app; cat /var/log/update.log"); !strings.Contains(out, "version 1\n0 755\nhook "+sw.Manifest) {
		t.Fatalf("after the first push the sliver sees:\n%s", out)
	}
	if r := fc.last(); r.State != api.SoftwareInstalled || r.HookExit == nil || *r.HookExit != 0 {
		t.Fatalf("last report %+v, want installed with hook exit 0", r)
	}

	// The sliver plants a symlink where the next version writes a file,
	// pointing at a file of the host's that root owns.
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("host file\n"), 0o644)
	sh(t, m, name, "rm /opt/"+name+"/lib/f0 && ln -s "+victim+" /opt/"+name+"/lib/f0")
	// And a dangling one where the next version adds a file.
	absent := filepath.Join(t.TempDir(), "absent")
	sh(t, m, name, "ln -s "+absent+" /opt/"+name+"/bin/new")
	// Version 2: one file changed, one added, one removed, f0 unchanged
	// in the tree.
	write(t, src, "bin/app", "version 2\n", 0o755)
	write(t, src, "bin/new", "new\n", 0o644)
	os.Remove(filepath.Join(src, "old"))
	os.Chmod(filepath.Join(src, "lib/f0"), 0o600) // f0's mode changes: it is rewritten
	sw2 := fc.push(t, src, "/opt/"+name)
	if err := a.update(ctx, name, sw2); err != nil {
		t.Fatalf("second install: %v", err)
	}
	if want := int64(len("version 2\nnew\n")); len(fc.sentBlobs) != 2 || fc.sentBytes != want {
		t.Errorf("second push fetched %d blobs, %d bytes; want only the changed and the new file (2 blobs, %d bytes)", len(fc.sentBlobs), fc.sentBytes, want)
	}
	out := sh(t, m, name, "cd /opt/"+name+" && cat bin/app bin/new; ls; stat -c '%F' lib/f0 bin/new")
	if !strings.Contains(out, "version 2\nnew\n") || strings.Contains(out, "old") || !strings.Contains(out, "regular file\nregular file") {
		t.Errorf("after the second push the sliver sees:\n%s", out)
	}
	if b, _ := os.ReadFile(victim); string(b) != "host file\n" {
		t.Errorf("the host file behind the planted symlink was written: %q", b)
	}
	if _, err := os.Lstat(absent); err == nil {
		t.Errorf("the planted dangling symlink was followed: %s exists", absent)
	}

	// A symlink planted as the destination's parent is refused.
	sh(t, m, name, "mkdir -p /srv && ln -s /etc /srv/x")
	sw3 := sw2
	sw3.Dest = "/srv/x/app"
	if err := a.update(ctx, name, sw3); err == nil || !strings.Contains(err.Error(), "symlink is not followed") {
		t.Errorf("install under a planted symlink: %v, want a refusal", err)
	}
	if out := sh(t, m, name, "ls /etc/app 2>&1"); !strings.Contains(out, "No such file") {
		t.Errorf("install followed the planted symlink: %s", out)
	}
	_ = spec
}

// TestHookFailureAndTimeout: a failing hook is reported with its status
// and output; a hook that hangs is killed at the timeout.
func TestHookFailureAndTimeout(t *testing.T) {
	m := slivertest.NewManager(t, "swhook")
	const name = "orbistest_swhook"
	newSliver(t, m, name)
	fc := newFakeCentral()
	a := &agent{opts: Options{Central: fc, Slivers: m, HookTimeout: time.Second, Log: testutil.Logger(t)}}
	a.cache, _ = OpenCache(t.TempDir())
	ctx := testutil.Context(t)
	src := t.TempDir()
	write(t, src, ".orbis/update", "#!/bin/sh\necho broken >&2\nexit 3\n", 0o755)
	a.update(ctx, name, fc.push(t, src, "/opt/x"))
	if r := fc.last(); r.State != api.SoftwareFailed || r.HookExit == nil || *r.HookExit != 3 || !strings.Contains(r.Reason, "broken") {
		t.Errorf("failing hook reported %+v", r)
	}
	write(t, src, ".orbis/update", "#!/bin/sh\nsleep 30\n", 0o755)
	start := time.Now()
	a.update(ctx, name, fc.push(t, src, "/opt/x"))
	if r := fc.last(); r.State != api.SoftwareFailed || !strings.Contains(r.Reason, "killed after") || time.Since(start) > 10*time.Second {
		t.Errorf("hanging hook reported %+v after %v", r, time.Since(start))
	}
}

// TestDaemonizingHook performs issue 18's stall: an update hook starts a
// daemon in a session of its own (setsid) that keeps the hook's output
// open, then exits, or hangs. Each push ends by the deadline, says why,
// and leaves no process of the hook's in the sliver; the next push with
// a plain hook works at once.
func TestDaemonizingHook(t *testing.T) {
	m := slivertest.NewManager(t, "swdaemon")
	const name = "orbistest_swdaemon"
	newSliver(t, m, name)
	fc := newFakeCentral()
	a := &agent{opts: Options{Central: fc, Slivers: m, HookTimeout: 2 * time.Second, Log: testutil.Logger(t)}}
	a.cache, _ = OpenCache(t.TempDir())
	ctx := testutil.Context(t)
	src := t.TempDir()
	for _, c := range []struct{ hook, want string }{
		{"#!/bin/sh\nsetsid sh -c 'sleep 313' &\necho started\n", "left processes holding its output"},
		{"#!/bin/sh\nsetsid sh -c 'sleep 313' &\nsleep 300\n", "killed after"},
	} {
		write(t, src, ".orbis/update", c.hook, 0o755)
		start := time.Now()
		done := make(chan struct{})
		go func() { a.update(ctx, name, fc.push(t, src, "/opt/x")); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("hook %q: the push stalls", c.hook)
		}
		if r := fc.last(); r.State != api.SoftwareFailed || !strings.Contains(r.Reason, c.want) {
			t.Errorf("hook %q reported %+v after %v", c.hook, r, time.Since(start))
		}
		t.Logf("hook %q: the push ended after %v", c.hook, time.Since(start))
		if left := sliverProcs(t, m, name, "sleep 313"); len(left) > 0 {
			t.Errorf("hook %q left its daemon running: %v", c.hook, left)
		}
	}
	write(t, src, ".orbis/update", "#!/bin/sh\necho fine\n", 0o755)
	start := time.Now()
	a.update(ctx, name, fc.push(t, src, "/opt/x"))
	if r := fc.last(); r.State != api.SoftwareInstalled || time.Since(start) > 5*time.Second {
		t.Errorf("the next push reported %+v after %v", r, time.Since(start))
	}
}

// sliverProcs lists the host PIDs of the sliver's processes whose command
// line is cmd.
func sliverProcs(t *testing.T, m *sliver.Manager, name, cmd string) []int {
	t.Helper()
	spec, err := m.Spec(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, p := range readProcs() {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.pid))
		if p.uid >= spec.UIDBase && p.uid < spec.UIDBase+spec.UIDCount && strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")) == cmd {
			out = append(out, p.pid)
		}
	}
	return out
}
