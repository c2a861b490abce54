package disk

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// slivers is the directory holding sliver directories, shared by every
// mechanism.
type slivers struct {
	root    string // <state>/disk/slivers
	reserve int64  // Options.Reserve; 0: DefaultReserve
}

// Space reports the room of the file system under the sliver directories,
// which is the state disk for the mechanisms without an image.
func (s slivers) Space() (Space, error) {
	free, size, err := Statfs(s.root)
	if err != nil {
		return Space{}, err
	}
	sp := Space{Size: size, Free: free, StateFree: free}
	reserve := Options{Reserve: s.reserve}.reserve()
	if free < reserve {
		sp.Full = fmt.Sprintf("state disk full: %d MiB free, below the %d MiB reserve", free>>20, reserve>>20)
	}
	return sp, nil
}

func (s slivers) path(id string) (string, error) {
	if err := checkID(id); err != nil {
		return "", err
	}
	return filepath.Join(s.root, id), nil
}

// Dir returns the path of the sliver's directory, whether or not it exists.
func (s slivers) Dir(id string) (string, error) { return s.path(id) }

// List returns the ids of the sliver directories.
func (s slivers) List() ([]string, error) {
	ents, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list slivers: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), ".") && checkID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// removeTree deletes dir and everything under it without following
// symlinks: os.RemoveAll opens each directory relative to its parent's
// descriptor with O_NOFOLLOW, so a symlink (or a directory swapped for one
// by a racing sliver) is unlinked, never traversed. dir's parent must not be
// writable by the sliver.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", filepath.Base(dir), err)
	}
	return nil
}

// duTree sums the disk space used under dir, without following symlinks.
func duTree(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while we walked
			}
			return err
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	return total, err
}

// none is the Quota of a node that cannot limit disk use: plain directories.
type none struct {
	slivers
}

// NewNone returns a Quota that makes plain, unlimited sliver directories
// under stateDir. Open uses it when nothing better exists; tests of other
// packages may use it directly, without root.
func NewNone(stateDir string) (Quota, error) {
	q := &none{slivers{root: filepath.Join(stateDir, "disk", "slivers")}}
	if err := os.MkdirAll(q.root, 0o711); err != nil {
		return nil, fmt.Errorf("create slivers dir: %w", err)
	}
	return q, nil
}

func (q *none) Kind() string   { return KindNone }
func (q *none) Enforces() bool { return false }
func (q *none) Close() error   { return nil }

func (q *none) Create(id string, limit int64) (string, error) {
	dir, err := q.path(id)
	if err != nil {
		return "", err
	}
	if limit != 0 {
		return "", ErrNotEnforced
	}
	if err := os.Mkdir(dir, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create sliver dir: %w", err)
	}
	return dir, nil
}

func (q *none) SetLimit(id string, limit int64) error {
	if _, err := q.path(id); err != nil {
		return err
	}
	if limit != 0 {
		return ErrNotEnforced
	}
	return nil
}

func (q *none) Usage(id string) (int64, error) {
	dir, err := q.path(id)
	if err != nil {
		return 0, err
	}
	if _, err := os.Lstat(dir); err != nil {
		return 0, fmt.Errorf("sliver %s: %w", id, err)
	}
	return duTree(dir)
}

func (q *none) Remove(id string) error {
	dir, err := q.path(id)
	if err != nil {
		return err
	}
	return removeTree(dir)
}
