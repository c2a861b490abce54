package swinstall

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/internal/manifest"
)

// Cache is the node-wide, host-only cache of blobs and manifests (so a
// node fetches a blob once, whatever the number of slices or pushes that
// use it) and the record of what is installed in each sliver. Every file
// is written to a temporary name, checked against its hash, and renamed.
type Cache struct {
	dir string
}

// OpenCache opens (creating, mode 0700) the cache in dir.
func OpenCache(dir string) (*Cache, error) {
	for _, sub := range []string{"blobs", "manifests", "installed"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("software cache: %w", err)
		}
	}
	return &Cache{dir: dir}, nil
}

func (c *Cache) blobPath(h string) string { return filepath.Join(c.dir, "blobs", h) }

// HasBlob reports whether the blob is cached.
func (c *Cache) HasBlob(h string) bool {
	_, err := os.Stat(c.blobPath(h))
	return err == nil
}

// OpenBlob opens a cached blob.
func (c *Cache) OpenBlob(h string) (*os.File, error) { return os.Open(c.blobPath(h)) }

// PutBlob caches size bytes of r as blob h, refusing bytes of another hash.
func (c *Cache) PutBlob(h string, size int64, r io.Reader) error {
	sum := sha256.New()
	return c.write(c.blobPath(h), func(w io.Writer) error {
		if _, err := io.CopyN(io.MultiWriter(w, sum), r, size); err != nil {
			return fmt.Errorf("blob %s: %w", h, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != h {
			return fmt.Errorf("blob %s: central sent bytes of hash %s", h, got)
		}
		return nil
	})
}

// Manifest returns a cached manifest, nil if it is not cached.
func (c *Cache) Manifest(h string) (*manifest.Manifest, error) {
	data, err := os.ReadFile(filepath.Join(c.dir, "manifests", h))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, got, err := manifest.Decode(data)
	if err == nil && got != h {
		err = fmt.Errorf("cached manifest %s has hash %s", h, got)
	}
	return m, err
}

// PutManifest caches a manifest after checking it and its hash.
func (c *Cache) PutManifest(h string, data []byte) (*manifest.Manifest, error) {
	m, got, err := manifest.Decode(data)
	if err != nil {
		return nil, err
	}
	if got != h {
		return nil, fmt.Errorf("central sent manifest %s for %s", got, h)
	}
	err = c.write(filepath.Join(c.dir, "manifests", h), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return m, err
}

// Installed is what is installed in one sliver.
type Installed struct {
	Manifest string `json:"manifest"`
	Dest     string `json:"dest"`
	HookExit *int   `json:"hook_exit,omitempty"`
}

// Installed returns the record of the slice's sliver (zero if none).
func (c *Cache) Installed(slice string) Installed {
	var in Installed
	data, err := os.ReadFile(filepath.Join(c.dir, "installed", slice+".json"))
	if err == nil {
		json.Unmarshal(data, &in)
	}
	return in
}

// SetInstalled records what is installed in the slice's sliver.
func (c *Cache) SetInstalled(slice string, in Installed) error {
	data, _ := json.Marshal(in)
	return c.write(filepath.Join(c.dir, "installed", slice+".json"), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// InstalledSlices lists the slices with an install record.
func (c *Cache) InstalledSlices() []string {
	ents, _ := os.ReadDir(filepath.Join(c.dir, "installed"))
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok && !strings.HasPrefix(name, ".") {
			out = append(out, name)
		}
	}
	return out
}

// Forget drops the record of a slice whose sliver is gone.
func (c *Cache) Forget(slice string) { os.Remove(filepath.Join(c.dir, "installed", slice+".json")) }

// Collect removes the blobs and manifests that no manifest in keep uses.
func (c *Cache) Collect(keep []string) {
	used := map[string]bool{}
	for _, h := range keep {
		used[h] = true
		if m, err := c.Manifest(h); err == nil && m != nil {
			_, sizes := m.Blobs()
			for b := range sizes {
				used[b] = true
			}
		}
	}
	for _, sub := range []string{"blobs", "manifests"} {
		ents, _ := os.ReadDir(filepath.Join(c.dir, sub))
		for _, e := range ents {
			if !used[e.Name()] {
				os.Remove(filepath.Join(c.dir, sub, e.Name()))
			}
		}
	}
}

func (c *Cache) write(final string, fn func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(final), ".tmp-*")
	if err != nil {
		return fmt.Errorf("software cache: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = fn(f); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("software cache: %w", err)
	}
	return os.Rename(f.Name(), final)
}
