package manifest

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Tree is a tree to push: its manifest, and a way to read its blobs.
type Tree struct {
	Manifest *Manifest
	// each calls fn once for each blob in need, with its bytes.
	each func(need map[string]bool, fn func(hash string, size int64, r io.Reader) error) error
}

// EachBlob calls fn once for each blob of need with its bytes; a blob
// whose bytes changed since the manifest was made is an error.
func (t *Tree) EachBlob(need map[string]bool, fn func(hash string, size int64, r io.Reader) error) error {
	return t.each(need, fn)
}

// Open builds the tree of src: a directory, or a tar archive (.tar,
// .tar.gz, .tgz; gzip is detected by its magic number).
func Open(src string) (*Tree, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("open tree: %w", err)
	}
	if fi.IsDir() {
		return FromDir(src)
	}
	return FromArchive(src)
}

// FromDir builds the tree of the directory dir (not following symlinks;
// sockets, devices and pipes are refused).
func FromDir(dir string) (*Tree, error) {
	m := &Manifest{}
	paths := map[string]string{} // blob -> a file with it
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		e, err := dirEntry(p, rel, d)
		if err != nil {
			return err
		}
		if e.Type == File {
			paths[e.SHA256] = p
		}
		m.Entries = append(m.Entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", dir, err)
	}
	m.Sort()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	each := func(need map[string]bool, fn func(string, int64, io.Reader) error) error {
		for h := range need {
			if err := blobFromFile(paths[h], h, fn); err != nil {
				return err
			}
		}
		return nil
	}
	return &Tree{Manifest: m, each: each}, nil
}

// dirEntry describes one file of a directory tree.
func dirEntry(p, rel string, d fs.DirEntry) (Entry, error) {
	fi, err := d.Info()
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Path: rel, Mode: uint32(fi.Mode().Perm())}
	switch {
	case fi.IsDir():
		e.Type = Dir
	case fi.Mode().Type() == fs.ModeSymlink:
		e.Type, e.Mode = Symlink, 0
		e.Target, err = os.Readlink(p)
	case fi.Mode().IsRegular():
		e.Type, e.Size = File, fi.Size()
		e.SHA256, err = hashFile(p, fi.Size())
	default:
		return e, invalid(rel, "%s: only directories, regular files and symlinks can be pushed", fi.Mode().Type())
	}
	return e, err
}

func hashFile(p string, size int64) (string, error) {
	if size > api.MaxBlobSize {
		return "", invalid(p, "size %d is over the limit of %d bytes for a file", size, api.MaxBlobSize)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// blobFromFile passes the file p to fn, checking that it still has hash.
func blobFromFile(p, hash string, fn func(string, int64, io.Reader) error) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("read blob: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read blob: %w", err)
	}
	return passVerified(p, hash, fi.Size(), f, fn)
}

// passVerified passes r to fn as the blob hash of size bytes, then checks
// that what fn read has that hash: an error names src as changed if not.
func passVerified(src, hash string, size int64, r io.Reader, fn func(string, int64, io.Reader) error) error {
	h := sha256.New()
	if err := fn(hash, size, io.TeeReader(r, h)); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != hash {
		return fmt.Errorf("%s changed while it was pushed: push again", src)
	}
	return nil
}

// FromArchive builds the tree of a tar archive, gzip-compressed or not.
// Hard links become files with their target's content; the directories
// an archive leaves out are added (mode 0755).
func FromArchive(file string) (*Tree, error) {
	m := &Manifest{}
	idx := map[string]int{}
	err := readArchive(file, func(hdr *tar.Header, r io.Reader) error {
		return addTarEntry(m, idx, hdr, r)
	})
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", file, err)
	}
	addParents(m)
	m.Sort()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	each := func(need map[string]bool, fn func(string, int64, io.Reader) error) error {
		need = copySet(need)
		err := readArchive(file, func(hdr *tar.Header, r io.Reader) error {
			e := m.Lookup(tarPath(hdr.Name))
			if hdr.Typeflag != tar.TypeReg || e == nil || !need[e.SHA256] {
				return nil
			}
			delete(need, e.SHA256)
			return passVerified(file, e.SHA256, e.Size, r, fn)
		})
		if err == nil && len(need) > 0 {
			err = fmt.Errorf("archive %s: %d blob(s) not found on the second read: did it change?", file, len(need))
		}
		return err
	}
	return &Tree{Manifest: m, each: each}, nil
}

func copySet(s map[string]bool) map[string]bool {
	out := make(map[string]bool, len(s))
	for k, v := range s {
		out[k] = v
	}
	return out
}

// readArchive calls fn for each entry of the tar archive file.
func readArchive(file string, fn func(*tar.Header, io.Reader) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if n > MaxEntries {
			return fmt.Errorf("%w: over %d entries", ErrInvalid, MaxEntries)
		}
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}

// tarPath is an archive name as a tree path: "./a/b/" -> "a/b". Anything
// else unclean is left for Validate to refuse.
func tarPath(name string) string {
	name = strings.TrimPrefix(name, "./")
	if name != "/" {
		name = strings.TrimSuffix(name, "/")
	}
	return name
}

// addTarEntry adds one archive entry to m.
func addTarEntry(m *Manifest, idx map[string]int, hdr *tar.Header, r io.Reader) error {
	p := tarPath(hdr.Name)
	if p == "." || p == "" {
		return nil
	}
	if err := CheckPath(p); err != nil {
		return err
	}
	e := Entry{Path: p, Mode: uint32(hdr.Mode) & ModeMask}
	switch hdr.Typeflag {
	case tar.TypeDir:
		e.Type = Dir
	case tar.TypeSymlink:
		e.Type, e.Mode, e.Target = Symlink, 0, hdr.Linkname
		if err := checkTarget(p, e.Target); err != nil {
			return err
		}
	case tar.TypeReg:
		if hdr.Size < 0 || hdr.Size > api.MaxBlobSize {
			return invalid(p, "size %d is over the limit of %d bytes for a file", hdr.Size, api.MaxBlobSize)
		}
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			return fmt.Errorf("%q: %w", p, err)
		}
		e.Type, e.Size, e.SHA256 = File, hdr.Size, hex.EncodeToString(h.Sum(nil))
	case tar.TypeLink:
		i, ok := idx[tarPath(hdr.Linkname)]
		if !ok || m.Entries[i].Type != File {
			return invalid(p, "hard link to %q, which is not a file earlier in the archive", hdr.Linkname)
		}
		e.Type, e.Size, e.SHA256 = File, m.Entries[i].Size, m.Entries[i].SHA256
	case tar.TypeChar, tar.TypeBlock:
		return invalid(p, "device file: only directories, regular files and symlinks can be pushed")
	default:
		return invalid(p, "tar entry type %q: only directories, regular files and symlinks can be pushed", hdr.Typeflag)
	}
	if _, ok := idx[p]; ok {
		return invalid(p, "listed twice in the archive")
	}
	idx[p] = len(m.Entries)
	m.Entries = append(m.Entries, e)
	return nil
}

// addParents adds the directories that entries are in but the archive
// does not list.
func addParents(m *Manifest) {
	have := map[string]bool{}
	for _, e := range m.Entries {
		have[e.Path] = true
	}
	for _, e := range m.Entries {
		for d := path.Dir(e.Path); d != "." && !have[d]; d = path.Dir(d) {
			have[d] = true
			m.Entries = append(m.Entries, Entry{Path: d, Type: Dir, Mode: 0o755})
		}
	}
}
