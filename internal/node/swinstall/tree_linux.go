package swinstall

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/manifest"
)

// resolve keeps every lookup beneath the sliver's root and refuses any
// symlink (and /proc magic link) on the way: nothing the sliver planted
// is ever followed.
const resolve = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// tree writes into a sliver's file system through a directory fd of the
// sliver's root, as the sliver's root: its thread's fsuid and fsgid are
// the sliver's root's host IDs, so files are owned by it, and the kernel
// checks permissions as for it, without the host's capabilities. Its
// methods must run on the thread that called asSliverRoot.
type tree struct {
	root int // the sliver's "/", as its processes see it
	uid  int // host UID (and GID) of the sliver's root
}

// asSliverRoot locks the goroutine to its thread and sets the thread's
// file system IDs to the sliver's root. The thread is never unlocked, so
// it dies with the goroutine and no other goroutine runs with its IDs.
func asSliverRoot(uid int) error {
	runtime.LockOSThread()
	if err := unix.Setfsgid(uid); err != nil {
		return fmt.Errorf("setfsgid %d: %w", uid, err)
	}
	if err := unix.Setfsuid(uid); err != nil {
		return fmt.Errorf("setfsuid %d: %w", uid, err)
	}
	if got, _ := unix.SetfsuidRetUid(-1); got != uid {
		return fmt.Errorf("setfsuid %d: thread has fsuid %d", uid, got)
	}
	return nil
}

// openDirAt opens the directory name beneath dirfd without following
// any symlink.
func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat2(dirfd, name, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC | unix.O_NOFOLLOW, Resolve: resolve})
}

// openDir opens the directory rel ("" is the root) without following any
// symlink.
func (t *tree) openDir(rel string) (int, error) {
	if rel == "" {
		rel = "."
	}
	fd, err := openDirAt(t.root, rel)
	if err != nil {
		return -1, &os.PathError{Op: "openat2", Path: "/" + rel, Err: err}
	}
	return fd, nil
}

// mkdirs makes the destination dest (absolute, clean) and its missing
// ancestors. An ancestor that is a symlink is refused; dest itself, if
// it is not a directory, is replaced by one.
func (t *tree) mkdirs(dest string) error {
	rel := strings.TrimPrefix(dest, "/")
	parts := strings.Split(rel, "/")
	for i := range parts {
		cur := strings.Join(parts[:i+1], "/")
		fd, err := t.openDir(cur)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if i < len(parts)-1 && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("destination %s: /%s is not a plain directory in the sliver (a symlink is not followed): %w", dest, cur, err)
		}
		if err := t.ensureDir(cur, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes rel a directory with mode: one already there is kept
// (its mode set), anything else there is replaced.
func (t *tree) ensureDir(rel string, mode uint32) error {
	dir, base := splitRel(rel)
	pfd, err := t.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	fd, err := openDirAt(pfd, base)
	if err != nil {
		if !errors.Is(err, unix.ENOENT) {
			if err := t.removeAt(pfd, base); err != nil {
				return fmt.Errorf("replace /%s: %w", rel, err)
			}
		}
		if err := unix.Mkdirat(pfd, base, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("mkdir /%s: %w", rel, err)
		}
		fd, err = openDirAt(pfd, base)
		if err != nil {
			return fmt.Errorf("open /%s: %w", rel, err)
		}
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("chmod /%s: %w", rel, err)
	}
	return nil
}

// writeFile makes rel a file of mode holding r's bytes. Where nothing is
// at rel, the file is made there (O_EXCL: whatever the sliver puts there
// meanwhile, a link included, makes the create fail and is never
// followed); anything already there is replaced by rename, never written
// through.
func (t *tree) writeFile(rel string, mode uint32, r io.Reader) error {
	dir, base := splitRel(rel)
	pfd, err := t.openDir(dir)
	if err != nil {
		return err
	}
	made, err := createFile(pfd, base, mode, r)
	if err != nil && made {
		unix.Unlinkat(pfd, base, 0)
	}
	unix.Close(pfd)
	if errors.Is(err, unix.EEXIST) && !made {
		return t.replace(rel, "write", func(pfd int, tmp string) error {
			_, err := createFile(pfd, tmp, mode, r)
			return err
		})
	}
	if err != nil {
		return fmt.Errorf("write /%s: %w", rel, err)
	}
	return nil
}

// createFile makes the new file name in the directory pfd with r's bytes
// and mode; made reports whether the file was created (it then is to be
// removed on error).
func createFile(pfd int, name string, mode uint32, r io.Reader) (made bool, err error) {
	fd, err := unix.Openat2(pfd, name, &unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC, Mode: 0o600, Resolve: resolve})
	if err != nil {
		return false, fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(os.FileMode(mode))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return true, err
}

// symlink replaces rel with a symlink to target.
func (t *tree) symlink(rel, target string) error {
	return t.replace(rel, "symlink", func(pfd int, tmp string) error {
		return unix.Symlinkat(target, pfd, tmp)
	})
}

// replace makes rel anew: create makes it under the temporary name tmp
// in rel's directory pfd, and it is renamed over rel, so a link planted
// at rel is replaced, never written through. On failure tmp is removed
// and the error names op.
func (t *tree) replace(rel, op string, create func(pfd int, tmp string) error) error {
	dir, base := splitRel(rel)
	pfd, err := t.openDir(dir)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	tmp := tempName()
	err = create(pfd, tmp)
	if err == nil {
		err = t.renameOver(pfd, tmp, base)
	}
	if err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		return fmt.Errorf("%s /%s: %w", op, rel, err)
	}
	return nil
}

// renameOver renames tmp to base in the directory pfd, removing a
// directory in the way first.
func (t *tree) renameOver(pfd int, tmp, base string) error {
	err := unix.Renameat(pfd, tmp, pfd, base)
	if errors.Is(err, unix.EISDIR) || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
		if err := t.removeAt(pfd, base); err != nil {
			return err
		}
		err = unix.Renameat(pfd, tmp, pfd, base)
	}
	return err
}

// remove removes rel: a file or link, or a directory only if empty (what
// the sliver added there is kept). A missing rel is no error.
func (t *tree) remove(rel string, isDir bool) error {
	dir, base := splitRel(rel)
	pfd, err := t.openDir(dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil // gone, or replaced by the sliver: its business
	}
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	flags := 0
	if isDir {
		flags = unix.AT_REMOVEDIR
	}
	err = unix.Unlinkat(pfd, base, flags)
	switch {
	case err == nil, errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.EISDIR), errors.Is(err, unix.ENOTDIR):
		return nil // the sliver replaced it with the other kind: keep it
	}
	return fmt.Errorf("remove /%s: %w", rel, err)
}

// removeAt removes base in the directory pfd, whatever it is, and for a
// directory everything in it, never following a symlink.
func (t *tree) removeAt(pfd int, base string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return fmt.Errorf("remove %s: %w", base, err)
	}
	fd, err := openDirAt(pfd, base)
	if err != nil {
		return fmt.Errorf("remove %s: %w", base, err)
	}
	d := os.NewFile(uintptr(fd), base)
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			if err = t.removeAt(fd, n); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(pfd, base, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s: %w", base, err)
	}
	return nil
}

func splitRel(rel string) (dir, base string) {
	dir, base = path.Split(rel)
	return strings.TrimSuffix(dir, "/"), base
}

func tempName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return manifest.TempPrefix + hex.EncodeToString(b)
}
