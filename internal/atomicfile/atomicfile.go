// Package atomicfile replaces files whole: the new content goes to a new
// temporary file beside the target, is synced, renamed over the target,
// and the directory is synced, so after a crash the target is the old
// file or the new one, never a mix, and never a truncated file.
//
// The temporary file is created with O_CREAT|O_EXCL|O_NOFOLLOW under a
// random name: a symlink or file planted at that name (by a sliver whose
// directory is near, or by a crash) is never followed or reused, and two
// writers of one target never share a temporary file. Callers that must
// not follow symlinks in the directory itself pass an *os.Root (the In
// variants); everything then resolves inside it.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// tempPrefix starts every temporary file's name, so a sweep can spot the
// leftovers of a crash (IsTemp).
const tempPrefix = ".atomic-"

// IsTemp reports whether name (a base name) is one of this package's
// temporary files, left behind only by a crash.
func IsTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// WriteFile replaces path with data, mode perm (exactly: the umask does
// not apply), crash-safely.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, writeData(data))
}

// WriteFileNoSync is WriteFile without the fsyncs (File.NoSync).
func WriteFileNoSync(path string, data []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	f.NoSync()
	return f.fillAndCommit(writeData(data))
}

// writeData is a fill that writes data.
func writeData(data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}
}

// WriteFileIn is WriteFile for name inside root.
func WriteFileIn(root *os.Root, name string, data []byte, perm fs.FileMode) error {
	return WriteIn(root, name, perm, writeData(data))
}

// Write replaces path with what fill writes, mode perm. If fill fails,
// the target is untouched and no temporary file stays; the error is
// fill's, unwrapped.
func Write(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	return f.fillAndCommit(fill)
}

// WriteIn is Write for name inside root.
func WriteIn(root *os.Root, name string, perm fs.FileMode, fill func(io.Writer) error) error {
	f, err := CreateIn(root, name, perm)
	if err != nil {
		return err
	}
	return f.fillAndCommit(fill)
}

func (f *File) fillAndCommit(fill func(io.Writer) error) error {
	defer f.Close()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}

// File is a new version of a file being written. Write (or use the
// *os.File: seek, read back, truncate) then Commit; Close without Commit
// discards it. Close is always safe to defer.
type File struct {
	*os.File
	root    *os.Root // the target's directory, or a root above it
	ownRoot bool     // root was opened by Create and is closed with the File
	name    string   // the target, relative to root
	shown   string   // the target as errors name it
	temp    string   // the temporary file, relative to root
	perm    fs.FileMode
	noSync  bool // NoSync was called
	done    bool // committed or discarded
}

// NoSync makes Commit skip both fsyncs: readers still see the old file or
// the new one, whole, but after a crash of the machine the file may be
// the old one. It is for files a crash makes moot, on paths that must stay
// fast: run-time records under /run, files the node writes again at
// every start.
func (f *File) NoSync() { f.noSync = true }

// Create starts a new version of path, mode perm once committed.
func Create(path string, perm fs.FileMode) (*File, error) {
	root, err := os.OpenRoot(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	f, err := create(root, filepath.Base(path), perm)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	f.ownRoot, f.shown = true, path
	return f, nil
}

// CreateIn starts a new version of name inside root, mode perm once
// committed. root must stay open until the File is closed.
func CreateIn(root *os.Root, name string, perm fs.FileMode) (*File, error) {
	f, err := create(root, name, perm)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	return f, nil
}

func create(root *os.Root, name string, perm fs.FileMode) (*File, error) {
	dir := filepath.Dir(name)
	for range 100 {
		temp := filepath.Join(dir, tempPrefix+filepath.Base(name)+"-"+randomSuffix())
		of, err := root.OpenFile(temp, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &File{File: of, root: root, name: name, shown: name, temp: temp, perm: perm}, nil
	}
	return nil, errors.New("no free temporary name")
}

// randomSuffix makes temporary names hard to guess (math/rand/v2 is
// seeded by the runtime from the kernel); O_EXCL, not the name, is what
// keeps a planted file from being used. It avoids crypto/rand, which
// would grow the sliver's init (internal/sandbox writes through here).
var randomSuffix = func() string { return strconv.FormatUint(rand.Uint64(), 16) }

// Commit syncs the file, gives it its mode and renames it over the
// target, then syncs the directory. The temporary file is gone after an
// error; the target is the old one, unless only the directory's sync
// failed (the new one is in place then, not yet durable).
func (f *File) Commit() error { return f.CommitAs(f.name) }

// CommitAs is Commit onto another name in the same directory, for
// writers that learn the name from the content (a hash).
func (f *File) CommitAs(name string) error {
	if f.done {
		return fmt.Errorf("write %s: already committed or closed", f.shown)
	}
	err := f.commit(name)
	f.Close()
	if err != nil {
		return fmt.Errorf("write %s: %w", f.shown, err)
	}
	return nil
}

func (f *File) commit(name string) error {
	if filepath.Dir(name) != filepath.Dir(f.temp) {
		return errors.New("the target is in another directory than the temporary file")
	}
	if err := f.Chmod(f.perm); err != nil {
		return err
	}
	if !f.noSync {
		if err := f.Sync(); err != nil {
			return err
		}
	}
	if err := f.File.Close(); err != nil {
		return err
	}
	if err := f.root.Rename(f.temp, name); err != nil {
		return err
	}
	f.done = true
	if f.noSync {
		return nil
	}
	return syncDir(f.root, filepath.Dir(name))
}

// Close discards the new version unless it was committed. It returns
// the error of closing the file only.
func (f *File) Close() error {
	err := f.File.Close()
	if errors.Is(err, os.ErrClosed) {
		err = nil
	}
	if !f.done {
		f.root.Remove(f.temp)
		f.done = true
	}
	if f.ownRoot {
		f.root.Close()
		f.ownRoot = false
	}
	return err
}

func syncDir(root *os.Root, dir string) error {
	d, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// SyncDir syncs directory dir, making renames and removals in it
// durable (for callers that rename files they did not write here).
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
