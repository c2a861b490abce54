package swinstall

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// The cache keeps blobs in packs, not one file each: a fetch writes one
// pack, the blob frames as central sent them (api.WriteBlobFrame), each
// checked against its hash as it is written, and renames it into place
// when the fetch ends with the blobs that arrived whole. Creating a file
// is what a node's first install spent most of its time on (200 files
// into an ext4 cache cost more than the network and the sliver's writes
// together), so a push of any number of files creates one file in the
// cache. Collect drops a pack none of whose blobs is used, and rewrites
// one that is more than half unused, so the garbage stays bounded.

// blobLoc is where a blob's bytes are: in pack, size bytes at off.
type blobLoc struct {
	pack      string
	off, size int64
}

// packDir holds the packs.
func (c *Cache) packDir() string { return filepath.Join(c.dir, "packs") }

// loadPacks indexes every pack in the cache, dropping the temporary
// files of a fetch that died and a pack that cannot be read.
func (c *Cache) loadPacks() error {
	ents, err := os.ReadDir(c.packDir())
	if err != nil {
		return fmt.Errorf("software cache: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(c.packDir(), e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			os.Remove(p)
			continue
		}
		locs, err := readPackIndex(p, e.Name())
		if err != nil {
			os.Remove(p)
			continue
		}
		for h, l := range locs {
			c.index[h] = l
		}
		c.packs[e.Name()] = packSize(locs)
	}
	return nil
}

// packSize is the bytes a pack's frames take.
func packSize(locs map[string]blobLoc) int64 {
	var end int64
	for _, l := range locs {
		end = max(end, l.off+l.size)
	}
	return end
}

// readPackIndex reads the frame headers of the pack at p (named name),
// skipping the blobs' bytes.
func readPackIndex(p, name string) (map[string]blobLoc, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	locs := map[string]blobLoc{}
	buf := make([]byte, 128)
	for off := int64(0); off < fi.Size(); {
		n, err := f.ReadAt(buf, off)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		hdr, _, ok := bytes.Cut(buf[:n], []byte("\n"))
		if !ok {
			return nil, fmt.Errorf("pack %s: %w at %d", name, api.ErrFrame, off)
		}
		h, size, err := api.ReadBlobFrame(bufio.NewReader(bytes.NewReader(append(hdr, '\n'))))
		start := off + int64(len(hdr)) + 1
		if err != nil || start+size > fi.Size() {
			return nil, fmt.Errorf("pack %s: %w at %d", name, api.ErrFrame, off)
		}
		locs[h] = blobLoc{pack: name, off: start, size: size}
		off = start + size
	}
	return locs, nil
}

// HasBlob reports whether the blob is cached.
func (c *Cache) HasBlob(h string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.index[h]
	return ok
}

// Pack is a pack being written by one fetch.
type Pack struct {
	c      *Cache
	f      *atomicfile.File
	w      *bufio.Writer
	good   int64              // the end of the last whole, checked blob
	locs   map[string]blobLoc // the blobs up to good
	broken bool               // an Add failed: no more blobs
}

// NewPack starts a pack; Commit ends it.
func (c *Cache) NewPack() (*Pack, error) {
	f, err := atomicfile.Create(filepath.Join(c.packDir(), "pack"), 0o600)
	if err != nil {
		return nil, fmt.Errorf("software cache: %w", err)
	}
	return &Pack{c: c, f: f, w: bufio.NewWriterSize(f, 256<<10), locs: map[string]blobLoc{}}, nil
}

// Add writes size bytes of r as blob h, refusing bytes of another hash;
// after an error the pack keeps only the blobs added before.
func (p *Pack) Add(h string, size int64, r io.Reader) error {
	if p.broken {
		return errors.New("software cache: pack broken by an earlier error")
	}
	hdr := fmt.Sprintf("%s %d\n", h, size)
	sum := sha256.New()
	_, err := p.w.WriteString(hdr)
	if err == nil {
		_, err = io.CopyN(io.MultiWriter(p.w, sum), r, size)
	}
	if err == nil {
		if got := hex.EncodeToString(sum.Sum(nil)); got != h {
			err = fmt.Errorf("blob %s: central sent bytes of hash %s", h, got)
		}
	} else {
		err = fmt.Errorf("blob %s: %w", h, err)
	}
	if err != nil {
		// Commit cuts the pack at good; if what came before cannot
		// be written out, the pack keeps nothing.
		if p.w.Flush() != nil {
			p.locs, p.good = map[string]blobLoc{}, 0
		}
		p.broken = true
		return err
	}
	start := p.good + int64(len(hdr))
	p.locs[h] = blobLoc{off: start, size: size}
	p.good = start + size
	return nil
}

// Commit puts the pack's whole blobs in the cache (none: no pack).
func (p *Pack) Commit() (err error) {
	defer p.f.Close()
	if len(p.locs) == 0 {
		return nil
	}
	if !p.broken {
		err = p.w.Flush()
	}
	if err == nil {
		err = p.f.Truncate(p.good)
	}
	if err != nil {
		return fmt.Errorf("software cache: %w", err)
	}
	final := randomName()
	if err = p.f.CommitAs(final); err != nil {
		return fmt.Errorf("software cache: %w", err)
	}
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	for h, l := range p.locs {
		l.pack = final
		p.c.index[h] = l
	}
	p.c.packs[final] = p.good
	return nil
}

// BlobSet is a set of cached blobs open for reading, whatever the reader's
// file system IDs later are.
type BlobSet struct {
	locs  map[string]blobLoc
	files map[string]*os.File
}

// OpenBlobs opens the packs that hold the blobs hashes.
func (c *Cache) OpenBlobs(hashes []string) (*BlobSet, error) {
	b := &BlobSet{locs: map[string]blobLoc{}, files: map[string]*os.File{}}
	c.mu.Lock()
	for _, h := range hashes {
		if l, ok := c.index[h]; ok {
			b.locs[h] = l
		}
	}
	c.mu.Unlock()
	for h, l := range b.locs {
		if b.files[l.pack] != nil {
			continue
		}
		f, err := os.Open(filepath.Join(c.packDir(), l.pack))
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("software cache: blob %s: %w", h, err)
		}
		b.files[l.pack] = f
	}
	return b, nil
}

// Reader returns the bytes of blob h.
func (b *BlobSet) Reader(h string) (io.Reader, error) {
	l, ok := b.locs[h]
	if !ok {
		return nil, fmt.Errorf("software cache: blob %s is not cached", h)
	}
	return io.NewSectionReader(b.files[l.pack], l.off, l.size), nil
}

// Close closes the packs.
func (b *BlobSet) Close() {
	for _, f := range b.files {
		f.Close()
	}
}

// collectPacks removes the packs with no blob in used and rewrites those
// whose used blobs take less than half of them.
func (c *Cache) collectPacks(used map[string]bool) {
	c.mu.Lock()
	live := map[string]int64{}
	for h, l := range c.index {
		if used[h] {
			live[l.pack] += l.size + int64(len(h)) + 2 // about its frame
		}
	}
	drop, rewrite := map[string]bool{}, map[string]bool{}
	for name, size := range c.packs {
		switch {
		case live[name] == 0:
			drop[name] = true
		case 2*live[name] < size:
			rewrite[name] = true
		}
	}
	var keep []string // the used blobs of the packs to rewrite
	for h, l := range c.index {
		if used[h] && rewrite[l.pack] {
			keep = append(keep, h)
		}
	}
	c.mu.Unlock()
	if len(keep) > 0 && c.repack(keep) == nil {
		maps.Copy(drop, rewrite)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for h, l := range c.index {
		if drop[l.pack] {
			delete(c.index, h)
		}
	}
	for name := range drop {
		delete(c.packs, name)
		os.Remove(filepath.Join(c.packDir(), name))
	}
}

// repack copies the blobs hashes into a new pack (the index then names
// the new one).
func (c *Cache) repack(hashes []string) error {
	src, err := c.OpenBlobs(hashes)
	if err != nil {
		return err
	}
	defer src.Close()
	p, err := c.NewPack()
	if err != nil {
		return err
	}
	for _, h := range hashes {
		r, err := src.Reader(h)
		if err == nil {
			err = p.Add(h, src.locs[h].size, r)
		}
		if err != nil {
			p.locs = nil
			p.Commit()
			return err
		}
	}
	return p.Commit()
}

// randomName names a new pack.
func randomName() string {
	b := make([]byte, 8)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
