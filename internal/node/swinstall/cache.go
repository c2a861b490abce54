package swinstall

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/manifest"
)

// Cache is the node-wide, host-only cache of blobs and manifests (so a
// node fetches a blob once, whatever the number of slices or pushes that
// use it) and the record of what is installed in each sliver. Every file
// is written to a temporary name, checked against its hash, and renamed;
// blobs are kept in packs (see pack.go). Its methods are safe for
// concurrent use, but Collect must not run while a fetch or an install
// does.
type Cache struct {
	dir string

	// mu guards the following.
	mu    sync.Mutex
	index map[string]blobLoc            // blob -> where it is
	packs map[string]int64              // pack -> its size
	mans  map[string]*manifest.Manifest // decoded manifests (see keepDecoded)
}

// Decoded manifests the cache keeps in memory (read-only to every
// caller), so that an install, the next one and Collect decode each
// manifest once: at most keepManifests, each of at most keepEntries.
const (
	keepManifests = 16
	keepEntries   = 20000
)

// OpenCache opens (creating, mode 0700) the cache in dir.
func OpenCache(dir string) (*Cache, error) {
	for _, sub := range []string{"packs", "manifests", "installed"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("software cache: %w", err)
		}
	}
	// Blobs one file each, as an earlier version kept them: fetched
	// again when next needed.
	os.RemoveAll(filepath.Join(dir, "blobs"))
	c := &Cache{dir: dir, index: map[string]blobLoc{}, packs: map[string]int64{}, mans: map[string]*manifest.Manifest{}}
	if err := c.loadPacks(); err != nil {
		return nil, err
	}
	return c, nil
}

// Manifest returns a cached manifest, nil if it is not cached. The
// caller must not change it.
func (c *Cache) Manifest(h string) (*manifest.Manifest, error) {
	c.mu.Lock()
	m := c.mans[h]
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
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
	if err == nil {
		c.keepDecoded(h, m)
	}
	return m, err
}

// keepDecoded keeps m in memory if it is small enough, making room.
func (c *Cache) keepDecoded(h string, m *manifest.Manifest) {
	if len(m.Entries) > keepEntries {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.mans {
		if len(c.mans) < keepManifests {
			break
		}
		delete(c.mans, k)
	}
	c.mans[h] = m
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
	if err == nil {
		c.keepDecoded(h, m)
	}
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

// Collect removes the manifests not in keep and the blobs that no
// manifest in keep uses.
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
	c.collectPacks(used)
	c.mu.Lock()
	for h := range c.mans {
		if !used[h] {
			delete(c.mans, h)
		}
	}
	c.mu.Unlock()
	ents, _ := os.ReadDir(filepath.Join(c.dir, "manifests"))
	for _, e := range ents {
		if !used[e.Name()] {
			os.Remove(filepath.Join(c.dir, "manifests", e.Name()))
		}
	}
}

func (c *Cache) write(final string, fn func(io.Writer) error) error {
	return atomicfile.Write(final, 0o600, fn)
}
