package nodemgr

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// The kinds of record in the state directory, one subdirectory each.
const (
	kindRcap   = "rcaps"   // <hash>.json: an rcapRecord
	kindSliver = "slivers" // <slice>.json: a sliverRecord
	kindSplit  = "splits"  // <child hash>.json: a splitIntent
)

// store keeps records as one small JSON file each, so a change costs the
// same with ten slivers or ten thousand. A write goes to a temporary file,
// is fsynced, renamed over the record, and the directory is fsynced: after
// a crash a record is either the old one or the new one.
type store struct {
	root string
	lock *os.File
	dirs map[string]*os.File // open directories, for fsync
}

func openStore(root string) (*store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("state lock %s: another node manager uses it: %w", root, err)
	}
	s := &store{root: root, lock: lock, dirs: map[string]*os.File{}}
	for _, kind := range []string{kindRcap, kindSliver, kindSplit} {
		dir := filepath.Join(root, kind)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			s.close()
			return nil, fmt.Errorf("state directory: %w", err)
		}
		d, err := os.Open(dir)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("state directory: %w", err)
		}
		s.dirs[kind] = d
	}
	if err := syncDir(root); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *store) close() error {
	for _, d := range s.dirs {
		d.Close()
	}
	return s.lock.Close() // closing drops the flock
}

// put writes the record kind/key atomically and durably.
func (s *store) put(kind, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s record: %w", kind, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(s.dirs[kind].Name(), key+".json"), data, 0o600); err != nil {
		return fmt.Errorf("write %s record: %w", kind, err)
	}
	return nil
}

// del removes the record kind/key durably; a missing record is no error.
func (s *store) del(kind, key string) error {
	d := s.dirs[kind]
	err := os.Remove(filepath.Join(d.Name(), key+".json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s record: %w", kind, err)
	}
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s directory: %w", kind, err)
	}
	return nil
}

// each calls fn with the key and contents of every record of kind, and
// removes temporary files a crash left behind.
func (s *store) each(kind string, fn func(key string, data []byte) error) error {
	dir := s.dirs[kind].Name()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("read %s records: %w", kind, err)
	}
	for _, e := range ents {
		name := e.Name()
		if atomicfile.IsTemp(name) || strings.HasPrefix(name, ".tmp-") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		key, ok := strings.CutSuffix(name, ".json")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("read %s record: %w", kind, err)
		}
		if err := fn(key, data); err != nil {
			return fmt.Errorf("%s record %s: %w", kind, key, err)
		}
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}
