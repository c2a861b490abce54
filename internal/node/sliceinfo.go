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
)

// sliceBook tells the traffic auditor's pages about the slices this node
// has run: their description, URL and users' emails as central last sent
// them in the sliver list: the resource manager's last list (in rmDir)
// when the book opens, then each new list as the resource manager accepts
// it (Learn).
// The pages show the last hour, whose slices may be gone from the list,
// so the book keeps the last known info of the max slices seen most
// recently, in its own file, across restarts.
type sliceBook struct {
	path string
	max  int
	log  *slog.Logger
	now  func() time.Time

	// mu guards the following.
	mu    sync.Mutex
	known map[string]bookEntry
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
// own directory), learning the list in rmDir; max 0 means
// DefaultSliceBook, now nil means time.Now.
func openSliceBook(rmDir, path string, max int, now func() time.Time, log *slog.Logger) *sliceBook {
	if max <= 0 {
		max = DefaultSliceBook
	}
	if now == nil {
		now = time.Now
	}
	b := &sliceBook{path: path, max: max, log: log, now: now, known: map[string]bookEntry{}}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &b.known)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("slice book unreadable; starting empty", "path", path, "err", err)
		b.known = map[string]bookEntry{}
	}
	list, err := rm.LastList(rmDir)
	if err != nil {
		log.Warn("slice book: read sliver list", "err", err)
	}
	if err == nil && list.Version >= 0 {
		b.Learn(list)
	}
	return b
}

// learnList is the resource manager's OnList: the slice book learns
// each list at once.
func (n *Node) learnList(l api.Slivers) {
	if n.book != nil {
		n.book.Learn(l)
	}
}

// Learn records the slices of a sliver list the resource manager
// accepted (rm.Options.OnList).
func (b *sliceBook) Learn(list api.Slivers) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.learnLocked(list.Slivers, b.now().Unix())
}

// Info implements audit.Slices.
func (b *sliceBook) Info(ctx context.Context, slice string) (audit.SliceInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.known[slice]
	if !ok {
		return audit.SliceInfo{}, fmt.Errorf("slice %s: not known to this node", slice)
	}
	return audit.SliceInfo{Description: e.Description, URL: e.URL, Emails: slices.Clone(e.Emails)}, nil
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
