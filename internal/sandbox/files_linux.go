package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// InstallFiles writes files into the sliver, owned by its root, as the
// sliver sees them. A running sliver's init writes them, through the
// sliver's own root mount: a write into the writable layer beneath a
// mounted overlay would leave the overlay's view stale. A sliver with no
// init has no mount, and gets them in its writable layer; the run lock
// keeps an init from starting meanwhile.
//
// The sliver's root may have planted anything anywhere, and may race:
// every access goes through an os.Root, which refuses to leave the root
// it is given; a file is written under a fresh random name and renamed
// over its path, never written through; nothing of the sliver's is ever
// opened, so a FIFO cannot block the writer. Where a directory must be
// and something else is (a symlink, a loop, a FIFO, a file), or a
// directory stands where a file goes, that thing is moved aside to
// "<name>.orbis-moved-<time>" beside it, which the sliver keeps. Every
// file is tried; the error returned joins what went wrong and what was
// moved aside, for the sliver's status.
func InstallFiles(ctx context.Context, cfg Config, files []File) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := validateFiles(files); err != nil {
		return err
	}
	unlock, err := lockRun(ctx, &cfg)
	if err != nil {
		return err
	}
	defer unlock()
	err = installByInit(ctx, &cfg, files)
	if errors.Is(err, ErrNotRunning) {
		return installAt(cfg.Upper, files, int(cfg.UIDBase))
	}
	return err
}

// installTimeout bounds the wait for a running init's answer.
const installTimeout = 10 * time.Second

// installByInit asks the sliver's running init to install files; it
// returns ErrNotRunning if there is none, or it went idle first.
func installByInit(ctx context.Context, cfg *Config, files []File) error {
	conn, err := dialInit(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close()
	var fds []int
	defer func() { closeFDs(fds) }()
	for _, f := range files {
		if f.Remove {
			continue
		}
		fd, err := sealedData(f.Data)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	if err := send(conn, message{Install: &installMsg{Files: files}}, fds...); err != nil {
		if initGone(err) {
			return ErrNotRunning
		}
		return fmt.Errorf("install sliver files: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	m, got, err := recvCtx(ctx, conn)
	closeFDs(got)
	switch {
	case initGone(err):
		return ErrNotRunning // it went idle before it read the request
	case err != nil:
		return fmt.Errorf("install sliver files: %w", err)
	case m.Error != "":
		return errors.New(m.Error)
	case !m.OK:
		return errors.New("install sliver files: malformed reply")
	}
	return nil
}

// sealedData returns a sealed memfd holding data.
func sealedData(data []byte) (int, error) {
	fd, err := unix.MemfdCreate("orbis-file", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("sliver file: memfd_create: %w", err)
	}
	for b := data; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("sliver file: write memfd: %w", err)
		}
		b = b[n:]
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("sliver file: seal memfd: %w", err)
	}
	return fd, nil
}

// handleInstall is the init's side of InstallFiles: it reads each file's
// content from its memfd and writes the files into its own root.
func handleInstall(m *installMsg, fds []int) message {
	files := m.Files
	if err := validateFiles(files); err != nil {
		return message{Error: err.Error()}
	}
	next := 0
	for i := range files {
		if files[i].Remove {
			continue
		}
		if next >= len(fds) {
			return message{Error: "install: malformed request"}
		}
		data, err := readData(fds[next])
		if err != nil {
			return message{Error: err.Error()}
		}
		files[i].Data = data
		next++
	}
	if err := installAt("/", files, 0); err != nil {
		return message{Error: err.Error()}
	}
	return message{OK: true}
}

// readData reads a file's content from the memfd fd, at most maxFileData
// bytes.
func readData(fd int) ([]byte, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size > maxFileData {
		return nil, fmt.Errorf("install: file content of %d bytes (max %d): %v", st.Size, maxFileData, err)
	}
	b := make([]byte, st.Size)
	for off := 0; off < len(b); {
		n, err := unix.Pread(fd, b[off:], int64(off))
		if err != nil || n == 0 {
			return nil, fmt.Errorf("install: read file content: %v", err)
		}
		off += n
	}
	return b, nil
}

// installAt writes files into the tree at dir, owned by uid (and the
// same gid): the writable layer with the sliver's host UID, or the root
// of the init with 0.
func installAt(dir string, files []File, uid int) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open sliver root: %w", err)
	}
	defer root.Close()
	var errs []error
	for _, f := range files {
		if f.Remove {
			errs = append(errs, removeFile(root, rel(f.Path)))
		} else {
			errs = append(errs, installFile(root, f, uid))
		}
	}
	return errors.Join(errs...)
}

// rel is the path p, which is absolute, relative to the sliver's root.
func rel(p string) string { return strings.TrimPrefix(p, "/") }

// installFile makes f's directories and writes it.
func installFile(root *os.Root, f File, uid int) error {
	var errs []error
	for _, d := range f.Dirs {
		note, err := ensureDir(root, rel(d.Path), d.Mode, uid)
		errs = append(errs, note)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	name := rel(f.Path)
	note, err := clearForFile(root, name)
	errs = append(errs, note)
	if err == nil {
		err = replaceFile(root, name, f.Data, f.Mode, uid)
	}
	return errors.Join(append(errs, err)...)
}

// ensureDir makes dir unless a directory is there already (what the sliver
// keeps in it is its own business). Anything else there is moved aside,
// and the move is returned as note.
func ensureDir(root *os.Root, dir string, mode os.FileMode, uid int) (note, err error) {
	fi, err := root.Lstat(dir)
	switch {
	case err == nil && fi.IsDir():
		return nil, nil
	case err == nil:
		if note, err = moveAside(root, dir, fi, "a directory"); err != nil {
			return nil, err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("sliver file /%s: %w", dir, err)
	}
	if err := root.Mkdir(dir, mode); err != nil {
		return note, fmt.Errorf("sliver file: make /%s: %w", dir, err)
	}
	if err := root.Lchown(dir, uid, uid); err != nil {
		return note, fmt.Errorf("sliver file: chown /%s: %w", dir, err)
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

// replaceFile writes data to a new file beside name and renames it over
// name (atomicfile), so a symlink, FIFO or hard link the sliver planted at
// name is replaced, not written through or opened. It does not fsync: the
// node writes the files again whenever it applies the sliver's spec, and a
// sliver's start stays fast.
func replaceFile(root *os.Root, name string, data []byte, mode os.FileMode, uid int) error {
	f, err := atomicfile.CreateIn(root, name, mode)
	if err != nil {
		return fmt.Errorf("sliver file: %w", err)
	}
	defer f.Close()
	f.NoSync()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chown(uid, uid)
	}
	if err == nil {
		err = f.Commit()
	}
	if err != nil {
		return fmt.Errorf("sliver file /%s: %w", name, err)
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
