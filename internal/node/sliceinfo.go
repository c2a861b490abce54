package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/node/rm"
)

// Bounds of the slice book.
const (
	// DefaultSliceBook is how many slices the book remembers.
	DefaultSliceBook = 1000
	// sliceBookCheck is how often the book looks at the resource
	// manager's list for a change.
	sliceBookCheck = 2 * time.Second
)

// sliceBook tells the traffic auditor's pages about the slices this node
// has run: their description, URL and users' emails as central last sent
// them in the sliver list (which the resource manager keeps in rmDir).
// The pages show the last hour, whose slices may be gone from the list,
// so the book keeps the last known info of the max slices seen most
// recently, in its own file, across restarts.
type sliceBook struct {
	rmDir string
	path  string
	max   int
	log   *slog.Logger
	now   func() time.Time

	// mu guards the following.
	mu      sync.Mutex
	known   map[string]bookEntry
	listMod time.Time // the resource manager's list last read
	checked time.Time
}

// bookEntry is what the book knows of one slice, and when it last saw it
// in central's list.
type bookEntry struct {
	Description string   `json:"description,omitempty"`
	URL         string   `json:"url,omitempty"`
	Emails      []string `json:"emails,omitempty"`
	Seen        int64    `json:"seen"`
}

var _ audit.Slices = (*sliceBook)(nil)

// openSliceBook opens the book kept at path (a file of the node agent's
// own directory), following the list in rmDir; max 0 means
// DefaultSliceBook.
func openSliceBook(rmDir, path string, max int, log *slog.Logger) *sliceBook {
	if max <= 0 {
		max = DefaultSliceBook
	}
	b := &sliceBook{rmDir: rmDir, path: path, max: max, log: log, now: time.Now, known: map[string]bookEntry{}}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &b.known)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("slice book unreadable; starting empty", "path", path, "err", err)
		b.known = map[string]bookEntry{}
	}
	return b
}

// Info implements audit.Slices.
func (b *sliceBook) Info(ctx context.Context, slice string) (audit.SliceInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshLocked()
	e, ok := b.known[slice]
	if !ok {
		return audit.SliceInfo{}, fmt.Errorf("slice %s: not known to this node", slice)
	}
	return audit.SliceInfo{Description: e.Description, URL: e.URL, Emails: slices.Clone(e.Emails)}, nil
}

// refreshLocked reads the resource manager's list when it changed, at
// most every sliceBookCheck.
func (b *sliceBook) refreshLocked() {
	now := b.now()
	if now.Sub(b.checked) < sliceBookCheck && !b.checked.IsZero() {
		return
	}
	b.checked = now
	st, err := os.Stat(rm.ListFile(b.rmDir))
	if err != nil || st.ModTime().Equal(b.listMod) {
		return
	}
	list, err := rm.LastList(b.rmDir)
	if err != nil {
		b.log.Warn("slice book: read sliver list", "err", err)
		return
	}
	b.listMod = st.ModTime()
	b.learnLocked(list.Slivers, now.Unix())
}

// learnLocked records the slivers' info, trims the book to its bound and
// writes it.
func (b *sliceBook) learnLocked(slivers []api.Sliver, now int64) {
	for _, sv := range slivers {
		b.known[sv.Name] = bookEntry{Description: sv.Description, URL: sv.URL, Emails: sv.Emails, Seen: now}
	}
	if len(b.known) > b.max {
		names := make([]string, 0, len(b.known))
		for n := range b.known {
			names = append(names, n)
		}
		slices.SortFunc(names, func(x, y string) int {
			return cmp.Or(cmp.Compare(b.known[y].Seen, b.known[x].Seen), cmp.Compare(x, y))
		})
		for _, n := range names[b.max:] {
			delete(b.known, n)
		}
	}
	if err := b.writeLocked(); err != nil {
		b.log.Warn("slice book: write", "err", err)
	}
}

// writeLocked replaces the book's file, through a temporary name.
func (b *sliceBook) writeLocked() error {
	data, err := json.Marshal(b.known)
	if err != nil {
		return fmt.Errorf("encode slice book: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(b.path), 0o700); err != nil {
		return fmt.Errorf("write slice book: %w", err)
	}
	if err := atomicfile.WriteFile(b.path, data, 0o600); err != nil {
		return fmt.Errorf("slice book: %w", err)
	}
	return nil
}
