package audit

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// DefaultSpoolBytes bounds a spool whose size is not given.
const DefaultSpoolBytes = 256 << 20

// Spool keeps batches of rows on disk while central is unreachable, within
// a bound of bytes: when a batch would exceed it, the oldest batches go
// first, and their rows and packets are counted as dropped. Its directory
// belongs to the node agent, never to a sliver.
type Spool struct {
	root *os.Root
	max  int64

	// mu guards the following.
	mu      sync.Mutex
	files   []spoolFile // oldest first
	size    int64
	next    uint64
	dropped SpoolDropped
}

// spoolFile is one batch on disk.
type spoolFile struct {
	name string
	size int64
	seq  uint64
}

// SpoolDropped counts what a full spool threw away.
type SpoolDropped struct {
	Batches, Rows, Packets uint64
}

// OpenSpool opens (making it if need be) a spool in dir bounded to
// maxBytes (zero: DefaultSpoolBytes), with the batches a previous run left.
func OpenSpool(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes == 0 {
		maxBytes = DefaultSpoolBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make spool: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open spool: %w", err)
	}
	s := &Spool{root: root, max: maxBytes}
	if err := s.load(); err != nil {
		root.Close()
		return nil, err
	}
	return s, nil
}

// load lists the batches on disk.
func (s *Spool) load() error {
	ents, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return fmt.Errorf("list spool: %w", err)
	}
	for _, e := range ents {
		if atomicfile.IsTemp(e.Name()) || strings.HasSuffix(e.Name(), ".tmp") {
			s.root.Remove(e.Name()) // a batch half written when the agent died
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(e.Name(), ".json"), 10, 64)
		info, ierr := e.Info()
		if err != nil || ierr != nil || !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		s.files = append(s.files, spoolFile{name: e.Name(), size: info.Size(), seq: seq})
		s.size += info.Size()
		s.next = max(s.next, seq+1)
	}
	slices.SortFunc(s.files, func(a, b spoolFile) int { return cmp.Compare(a.seq, b.seq) })
	return nil
}

// Close closes the spool's directory.
func (s *Spool) Close() error { return s.root.Close() }

// Len returns the number of batches spooled.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.files)
}

// Dropped returns what the bound threw away.
func (s *Spool) Dropped() SpoolDropped {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Put writes a batch, dropping the oldest batches if it would not fit.
func (s *Spool) Put(rows []Row) error {
	data, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("encode spooled batch: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(len(data)) > s.max {
		return errors.New("spool batch: larger than the spool's bound")
	}
	for s.size+int64(len(data)) > s.max && len(s.files) > 0 {
		if err := s.dropOldestLocked(); err != nil {
			return err
		}
	}
	f := spoolFile{name: fmt.Sprintf("%020d.json", s.next), size: int64(len(data)), seq: s.next}
	if err := s.writeLocked(f.name, data); err != nil {
		return err
	}
	s.next++
	s.files = append(s.files, f)
	s.size += f.size
	return nil
}

// writeLocked writes a file whole, through a temporary name.
func (s *Spool) writeLocked(name string, data []byte) error {
	if err := atomicfile.WriteFileIn(s.root, name, data, 0o600); err != nil {
		return fmt.Errorf("spooled batch: %w", err)
	}
	return nil
}

// dropOldestLocked removes the oldest batch, counting what it held.
func (s *Spool) dropOldestLocked() error {
	rows, err := s.readLocked(s.files[0])
	if err == nil {
		s.countDroppedLocked(rows)
	}
	return s.removeLocked(s.files[0].name)
}

func (s *Spool) countDroppedLocked(rows []Row) {
	s.dropped.Batches++
	s.dropped.Rows += uint64(len(rows))
	for _, r := range rows {
		s.dropped.Packets += r.Packets
	}
}

// Oldest returns the oldest batch and its name, or ok false when empty.
func (s *Spool) Oldest() (name string, rows []Row, ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.files) == 0 {
		return "", nil, false, nil
	}
	f := s.files[0]
	rows, err = s.readLocked(f)
	if err != nil {
		// A batch that cannot be read is of no use: drop it, not the spool.
		s.dropped.Batches++
		return "", nil, false, errors.Join(err, s.removeLocked(f.name))
	}
	return f.name, rows, true, nil
}

func (s *Spool) readLocked(f spoolFile) ([]Row, error) {
	data, err := fs.ReadFile(s.root.FS(), f.name)
	if err != nil {
		return nil, fmt.Errorf("read spooled batch: %w", err)
	}
	var rows []Row
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, fmt.Errorf("decode spooled batch %s: %w", f.name, err)
	}
	return rows, nil
}

// Remove deletes a batch Oldest returned, once it reached central.
func (s *Spool) Remove(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(name)
}

func (s *Spool) removeLocked(name string) error {
	i := slices.IndexFunc(s.files, func(f spoolFile) bool { return f.name == name })
	if i < 0 {
		return nil
	}
	if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove spooled batch: %w", err)
	}
	s.size -= s.files[i].size
	s.files = slices.Delete(s.files, i, i+1)
	return nil
}
