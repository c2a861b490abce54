package swinstall

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/manifest"
	"github.com/orbisproject/orbis/internal/sandbox"
)

// installTree brings the tree at dest in the sliver from old (what was
// installed there; nil: nothing) to new, reading blobs from the cache,
// then calls then (nil: none) while the holder still runs, so that what
// then starts in the sliver (the update hook) joins the init the holder
// keeps alive instead of starting one anew.
//
// It writes through the sliver's own view of its root (an overlay mounted
// in its mount namespace), so the sliver sees the files at once and its
// disk quota counts them: a holder process (cat, reading a pipe we keep
// open) keeps the sliver's init alive, and /proc/PID/root of the holder
// is the root. The holder's pidfd, still alive after the open, proves the
// PID named it, not some reused PID.
func installTree(ctx context.Context, sl Slivers, name, dest string, old, new *manifest.Manifest, c *Cache, then func()) error {
	spec, err := sl.Spec(name)
	if err != nil {
		return err
	}
	root, stop, err := holdRoot(ctx, sl, name)
	if err != nil {
		return err
	}
	defer stop()
	defer unix.Close(root)
	diff := manifest.Compare(old, new)
	var hashes []string
	for _, e := range diff.Write {
		if e.Type == manifest.File {
			hashes = append(hashes, e.SHA256)
		}
	}
	blobs, err := c.OpenBlobs(hashes) // as the host's root, before the thread becomes the sliver's
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	// The thread that takes the sliver root's IDs is never given back.
	go func() { done <- applyDiff(&tree{root: root, uid: int(spec.UIDBase)}, dest, diff, blobs) }()
	err = <-done // local file work: not cut short, so root stays open until it ends
	blobs.Close()
	if err != nil {
		return err
	}
	if then != nil {
		then()
	}
	return nil
}

// holdRoot starts the holder and opens the sliver's root through it.
func holdRoot(ctx context.Context, sl Slivers, name string) (int, func(), error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, nil, fmt.Errorf("holder pipe: %w", err)
	}
	p, err := sl.Exec(ctx, name, sandbox.Cmd{Args: []string{"cat"}, Stdin: pr})
	pr.Close()
	if err != nil {
		pw.Close()
		return -1, nil, fmt.Errorf("start holder in sliver %s: %w", name, err)
	}
	stop := func() {
		pw.Close()
		go func() {
			time.Sleep(5 * time.Second)
			p.Signal(syscall.SIGKILL)
		}()
		p.Wait()
	}
	root, err := unix.Open(fmt.Sprintf("/proc/%d/root", p.Pid), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil && p.Signal(0) != nil {
		unix.Close(root)
		err = errors.New("the holder exited")
	}
	if err != nil || p.Pid <= 0 {
		stop()
		return -1, nil, fmt.Errorf("open the root of sliver %s: %w", name, err)
	}
	return root, stop, nil
}

// applyDiff writes and removes what diff says under dest, as the
// sliver's root.
func applyDiff(t *tree, dest string, diff manifest.Diff, blobs *BlobSet) error {
	if err := asSliverRoot(t.uid); err != nil {
		return err
	}
	if err := t.mkdirs(dest); err != nil {
		return err
	}
	base := strings.TrimPrefix(dest, "/")
	for _, e := range diff.Write {
		rel := path.Join(base, e.Path)
		var err error
		switch e.Type {
		case manifest.Dir:
			err = t.ensureDir(rel, e.Mode)
		case manifest.Symlink:
			err = t.symlink(rel, e.Target)
		case manifest.File:
			var r io.Reader
			if r, err = blobs.Reader(e.SHA256); err == nil {
				err = t.writeFile(rel, e.Mode, r)
			}
		}
		if err != nil {
			return err
		}
	}
	for _, e := range diff.Remove {
		if err := t.remove(path.Join(base, e.Path), e.Type == manifest.Dir); err != nil {
			return err
		}
	}
	return nil
}

// Hook limits.
const (
	DefaultHookTimeout = 60 * time.Second
	hookOutputMax      = 4 << 10
)

// runHook runs the tree's update hook in the sliver as its root, in dest,
// and returns its exit status and the tail of its output. The output is a
// pipe of our own, read here until every process holding it closes it or
// the deadline: waiting for the hook never waits for what it leaves
// behind. At the deadline it kills the hook's whole tree (its session,
// every descendant, and every process of the sliver still holding its
// output) and stops reading, so a hook that daemonizes (setsid, keeping
// stdout open) cannot stall the slice's later pushes.
func runHook(ctx context.Context, sl Slivers, name, dest, hash string, timeout time.Duration) (int, string, error) {
	spec, err := sl.Spec(name)
	if err != nil {
		return -1, "", err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, "", fmt.Errorf("update hook output: %w", err)
	}
	defer pr.Close()
	out := &tailBuffer{max: hookOutputMax}
	read := make(chan struct{})
	go func() { io.Copy(out, pr); close(read) }()
	env := append([]string{"ORBIS_SLICE=" + name, "ORBIS_MANIFEST=" + hash, "ORBIS_DEST=" + dest}, sandbox.DefaultEnv...)
	p, err := sl.Exec(ctx, name, sandbox.Cmd{Args: []string{path.Join(dest, manifest.HookPath)}, Dir: dest, Env: env, Stdout: pw, Stderr: pw})
	pw.Close()
	if err != nil {
		return -1, "", fmt.Errorf("start update hook: %w", err)
	}
	tree := hookTree{pid: p.Pid, parent: parentOf(p.Pid), uidLow: spec.UIDBase, uidHigh: spec.UIDBase + spec.UIDCount, pipe: pipeInode(pr)}
	code, exited := -1, make(chan error, 1)
	go func() {
		var err error
		code, err = p.Wait()
		exited <- err
	}()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	select {
	case err := <-exited:
		select {
		case <-read:
			return code, out.String(), err
		case <-deadline.C:
			tree.kill()
			return code, out.String(), fmt.Errorf("update hook exited, but left processes holding its output past %s: killed", timeout)
		}
	case <-deadline.C:
	}
	p.SignalGroup(syscall.SIGKILL)
	tree.kill()
	<-exited
	return code, out.String(), fmt.Errorf("update hook killed after %s", timeout)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int

	// mu guards the following.
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
