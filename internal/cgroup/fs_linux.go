package cgroup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// rootFS reaches files beneath one directory (the cgroup root) and nowhere
// else: every path is resolved by openat2 with RESOLVE_BENEATH and
// RESOLVE_NO_SYMLINKS, so no symlink or ".." planted anywhere can redirect a
// write. Paths are relative, slash-separated.
type rootFS struct {
	dir *os.File // O_PATH descriptor of the root
	// trace, if set, sees every write before it is made; tests use it to
	// check what would be asked of the kernel.
	trace func(rel, value string)
}

// openRootFS opens dir as the root of a rootFS.
func openRootFS(dir string) (*rootFS, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return &rootFS{dir: os.NewFile(uintptr(fd), dir)}, nil
}

// Close releases the root's descriptor.
func (r *rootFS) Close() error { return r.dir.Close() }

// open opens rel beneath the root.
func (r *rootFS) open(rel string, flags uint64) (*os.File, error) {
	how := unix.OpenHow{
		Flags:   flags | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for range 10 {
		fd, err := unix.Openat2(int(r.dir.Fd()), rel, &how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a concurrent rename somewhere: retry, as openat2(2) says
		}
		if err != nil {
			return nil, &os.PathError{Op: "openat2", Path: r.path(rel), Err: err}
		}
		return os.NewFile(uintptr(fd), r.path(rel)), nil
	}
	return nil, &os.PathError{Op: "openat2", Path: r.path(rel), Err: unix.EAGAIN}
}

// path is the absolute path of rel, for messages.
func (r *rootFS) path(rel string) string { return path.Join(r.dir.Name(), rel) }

// write writes value to the file rel in a single write, as cgroupfs wants.
func (r *rootFS) write(rel, value string) error {
	if r.trace != nil {
		r.trace(rel, value)
	}
	f, err := r.open(rel, unix.O_WRONLY|unix.O_TRUNC)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.WriteString(value); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("write %q to %s: %w", value, f.Name(), err)
	}
	return nil
}

// read returns the content of the file rel, without trailing white space.
func (r *rootFS) read(rel string) (string, error) {
	f, err := r.open(rel, unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return strings.TrimSpace(string(b)), nil
}

// exists reports whether rel exists; any other error counts as absent.
func (r *rootFS) exists(rel string) bool {
	f, err := r.open(rel, unix.O_PATH)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// mkdir creates the directory rel and reports whether it did; an existing
// directory is no error.
func (r *rootFS) mkdir(rel string) (created bool, err error) {
	parent, err := r.open(path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false, err
	}
	defer parent.Close()
	err = unix.Mkdirat(int(parent.Fd()), path.Base(rel), 0o755)
	if err == unix.EEXIST {
		if !r.isDir(rel) {
			return false, &os.PathError{Op: "mkdir", Path: r.path(rel), Err: unix.ENOTDIR}
		}
		return false, nil
	}
	if err != nil {
		return false, &os.PathError{Op: "mkdir", Path: r.path(rel), Err: err}
	}
	return true, nil
}

func (r *rootFS) isDir(rel string) bool {
	f, err := r.open(rel, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// rmdir removes the empty directory rel.
func (r *rootFS) rmdir(rel string) error {
	parent, err := r.open(path.Dir(rel), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Unlinkat(int(parent.Fd()), path.Base(rel), unix.AT_REMOVEDIR); err != nil {
		return &os.PathError{Op: "rmdir", Path: r.path(rel), Err: err}
	}
	return nil
}

// subdirs lists the names of the directories in rel.
func (r *rootFS) subdirs(rel string) ([]string, error) {
	f, err := r.open(rel, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", f.Name(), err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
