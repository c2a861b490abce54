package sliver

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A sliverFile is a file the node keeps in every sliver, with the
// directories it needs on its way.
type sliverFile struct {
	path string // inside the sliver's layer, relative: "root/.ssh/authorized_keys"
	dirs []sliverDir
	mode os.FileMode
}

type sliverDir struct {
	path string
	mode os.FileMode
}

// The files installFiles keeps: the slice's SSH keys and boot script.
var (
	keysFile = sliverFile{path: "root/.ssh/authorized_keys", mode: 0o600,
		dirs: []sliverDir{{"root", 0o700}, {"root/.ssh", 0o700}}}
	bootFile = sliverFile{path: strings.TrimPrefix(BootScript, "/"), mode: 0o755,
		dirs: []sliverDir{{"etc", 0o755}}}
)

// installFiles writes the slice's SSH keys (/root/.ssh/authorized_keys)
// and boot script (/etc/rc.vinit) into the sliver's writable layer, owned
// by the sliver's root. The keys there are for the sliver's own use: the
// SSH gateway trusts only the spec the node holds.
//
// The layer belongs to the sliver, whose root may have planted anything
// anywhere in it and may race us: every access goes through an os.Root,
// which refuses to leave the layer; a file is written under a fresh name
// and renamed over its path, never written through; nothing of the
// sliver's is ever opened, so a FIFO cannot block us. Where a directory
// must be and something else is (a symlink, a loop, a FIFO, a file), or a
// directory stands where a file goes, that thing is moved aside to a
// "<name>.orbis-moved-<time>" beside it, which the sliver keeps. Each file
// is tried on its own; the error returned joins what went wrong and what
// was moved, for the sliver's status, and is never a reason to stop.
func installFiles(upper string, s Spec) error {
	root, err := os.OpenRoot(upper)
	if err != nil {
		return fmt.Errorf("open sliver layer: %w", err)
	}
	defer root.Close()
	own := owner{uid: int(s.UIDBase), gid: int(s.UIDBase)}
	keys := strings.Join(s.Keys, "\n")
	if keys != "" {
		keys += "\n"
	}
	errs := []error{own.install(root, keysFile, []byte(keys))}
	if s.InitScript == "" {
		errs = append(errs, removeFile(root, bootFile.path))
	} else {
		errs = append(errs, own.install(root, bootFile, []byte(s.InitScript)))
	}
	return errors.Join(errs...)
}

// owner is who the node's files in a sliver belong to: the sliver's root.
type owner struct{ uid, gid int }

// install makes f's directories and writes data to it.
func (o owner) install(root *os.Root, f sliverFile, data []byte) error {
	var moved []error
	for _, d := range f.dirs {
		note, err := o.ensureDir(root, d)
		if note != nil {
			moved = append(moved, note)
		}
		if err != nil {
			return errors.Join(append(moved, err)...)
		}
	}
	note, err := clearForFile(root, f.path)
	moved = append(moved, note)
	if err == nil {
		err = o.replaceFile(root, f.path, data, f.mode)
	}
	return errors.Join(append(moved, err)...)
}

// ensureDir makes d unless a directory is there already (what the sliver
// keeps in it is its own business). Anything else there is moved aside,
// and the move is returned as note.
func (o owner) ensureDir(root *os.Root, d sliverDir) (note, err error) {
	fi, err := root.Lstat(d.path)
	switch {
	case err == nil && fi.IsDir():
		return nil, nil
	case err == nil:
		if note, err = moveAside(root, d.path, fi, "a directory"); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sliver file /%s: %w", d.path, err)
	}
	if err := root.Mkdir(d.path, d.mode); err != nil {
		return note, fmt.Errorf("sliver file: make /%s: %w", d.path, err)
	}
	if err := root.Lchown(d.path, o.uid, o.gid); err != nil {
		return note, fmt.Errorf("sliver file: chown /%s: %w", d.path, err)
	}
	return note, nil
}

// clearForFile moves aside a directory standing where the file name goes;
// anything else there the rename in replaceFile replaces.
func clearForFile(root *os.Root, name string) (note, err error) {
	fi, err := root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return nil, nil // absent, or rename replaces it; a real error shows there
	}
	return moveAside(root, name, fi, "a file")
}

// moveAside renames what the sliver put at name, which is not the want
// (a directory, a file) the node needs there, to a new name beside it, and
// says so in note.
func moveAside(root *os.Root, name string, fi fs.FileInfo, want string) (note, err error) {
	aside := fmt.Sprintf("%s.orbis-moved-%d", name, time.Now().UnixNano())
	if err := root.Rename(name, aside); err != nil {
		return nil, fmt.Errorf("sliver file /%s is %s, not %s, and could not be moved aside: %w", name, kind(fi), want, err)
	}
	return fmt.Errorf("sliver file /%s was %s, not %s: moved to /%s", name, kind(fi), want, aside), nil
}

// kind names what fi is, for a person.
func kind(fi fs.FileInfo) string {
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m.IsDir():
		return "a directory"
	case m.IsRegular():
		return "a file"
	}
	return "a special file"
}

// replaceFile writes data to a new file of a random name beside name and
// renames it over name, so a symlink, FIFO or hard link the sliver
// planted at name is replaced, not written through or opened.
func (o owner) replaceFile(root *os.Root, name string, data []byte, mode os.FileMode) error {
	tmp := filepath.Join(filepath.Dir(name), ".orbis-new-"+rand.Text())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("sliver file: write /%s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(o.uid, o.gid)
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return fmt.Errorf("sliver file: write /%s: %w", name, err)
	}
	return nil
}

// removeFile removes name, unless it is absent.
func removeFile(root *os.Root, name string) error {
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sliver file: remove /%s: %w", name, err)
	}
	return nil
}
