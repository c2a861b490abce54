package software

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/manifest"
)

// ErrQuota is what Put wraps when a slice's software would exceed its
// quota.
var ErrQuota = errors.New("software quota exceeded")

// ErrCorrupt is what Put wraps when a blob's bytes do not have its hash.
var ErrCorrupt = errors.New("blob does not match its hash")

// Blobs keeps each slice's blobs and manifests on disk, under
// DIR/SLICE_ID/{blobs,manifests}/HASH, each written to a temporary file,
// synced and renamed into place, so that a crash never leaves a partial
// blob under its hash. A slice's files are bounded by a quota. Slices do
// not share blobs: one slice cannot learn from the missing list whether
// another holds a file.
type Blobs struct {
	dir   string
	quota int64

	// mu guards the following.
	mu    sync.Mutex
	usage map[int64]int64 // bytes per slice, loaded at first use
}

// NewBlobs returns the store in dir (created if missing) with quota bytes
// per slice.
func NewBlobs(dir string, quota int64) (*Blobs, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("software store: %w", err)
	}
	return &Blobs{dir: dir, quota: quota, usage: map[int64]int64{}}, nil
}

// Quota is the per-slice quota in bytes.
func (b *Blobs) Quota() int64 { return b.quota }

func (b *Blobs) sliceDir(slice int64) string {
	return filepath.Join(b.dir, strconv.FormatInt(slice, 10))
}

func (b *Blobs) blobPath(slice int64, hash string) string {
	return filepath.Join(b.sliceDir(slice), "blobs", hash)
}

func (b *Blobs) manifestPath(slice int64, hash string) string {
	return filepath.Join(b.sliceDir(slice), "manifests", hash)
}

// Missing returns the hashes the slice lacks, in order.
func (b *Blobs) Missing(slice int64, hashes []string) []string {
	out := []string{}
	for _, h := range hashes {
		if _, err := os.Stat(b.blobPath(slice, h)); err != nil {
			out = append(out, h)
		}
	}
	return out
}

// Usage returns the bytes the slice keeps.
func (b *Blobs) Usage(slice int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.usageLocked(slice)
}

func (b *Blobs) usageLocked(slice int64) int64 {
	if u, ok := b.usage[slice]; ok {
		return u
	}
	var u int64
	filepath.WalkDir(b.sliceDir(slice), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				u += fi.Size()
			}
		}
		return nil
	})
	b.usage[slice] = u
	return u
}

// reserve adds n bytes to the slice's usage if its quota allows it.
func (b *Blobs) reserve(slice, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.usageLocked(slice)
	if u+n > b.quota {
		return fmt.Errorf("%w: the slice keeps %s of %s and this file needs %s more (push a smaller tree, or ask an admin for a larger --software-quota)",
			ErrQuota, mib(u), mib(b.quota), mib(n))
	}
	b.usage[slice] = u + n
	return nil
}

func (b *Blobs) release(slice, n int64) {
	b.mu.Lock()
	b.usage[slice] -= n
	b.mu.Unlock()
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Put stores size bytes from r as the slice's blob hash, checking the
// hash; it reports whether the blob was new. r is read whole either way.
func (b *Blobs) Put(slice int64, hash string, size int64, r io.Reader) (bool, error) {
	final := b.blobPath(slice, hash)
	if _, err := os.Stat(final); err == nil {
		_, err := io.CopyN(io.Discard, r, size)
		return false, err
	}
	if err := b.reserve(slice, size); err != nil {
		return false, err
	}
	h := sha256.New()
	err := writeAtomic(final, func(w io.Writer) error {
		n, err := io.CopyN(io.MultiWriter(w, h), r, size)
		if err != nil {
			return fmt.Errorf("blob %s: %d of %d bytes: %w", hash, n, size, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != hash {
			return fmt.Errorf("%w: %s has sha256 %s", ErrCorrupt, hash, got)
		}
		return nil
	})
	if err != nil {
		b.release(slice, size)
		return false, err
	}
	return true, nil
}

// Open opens the slice's blob.
func (b *Blobs) Open(slice int64, hash string) (*os.File, error) {
	return os.Open(b.blobPath(slice, hash))
}

// PutManifest stores the slice's manifest (data must be its canonical
// form, hash its hash).
func (b *Blobs) PutManifest(slice int64, hash string, data []byte) error {
	final := b.manifestPath(slice, hash)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	if err := b.reserve(slice, int64(len(data))); err != nil {
		return err
	}
	err := writeAtomic(final, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		b.release(slice, int64(len(data)))
	}
	return err
}

// Manifest returns the slice's manifest hash.
func (b *Blobs) Manifest(slice int64, hash string) ([]byte, error) {
	return os.ReadFile(b.manifestPath(slice, hash))
}

// Collect removes the slice's blobs and manifests that keep does not use
// (keepHash is its own hash) and that are older than grace, so that a
// push in progress keeps what it uploaded.
func (b *Blobs) Collect(slice int64, keep *manifest.Manifest, keepHash string, grace time.Duration) {
	_, used := keep.Blobs()
	cut := time.Now().Add(-grace)
	sweep := func(sub string, keepIt func(string) bool) {
		dir := filepath.Join(b.sliceDir(slice), sub)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil || keepIt(e.Name()) || fi.ModTime().After(cut) {
				continue
			}
			if os.Remove(filepath.Join(dir, e.Name())) == nil {
				b.release(slice, fi.Size())
			}
		}
	}
	sweep("blobs", func(h string) bool { _, ok := used[h]; return ok })
	sweep("manifests", func(h string) bool { return h == keepHash })
}

// writeAtomic replaces final with what write writes, making its
// directory first; write's errors come back as they are.
func writeAtomic(final string, write func(io.Writer) error) error {
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("software store: %w", err)
	}
	return atomicfile.Write(final, 0o600, write)
}
