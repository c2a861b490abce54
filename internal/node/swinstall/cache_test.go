package swinstall

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/manifest"
)

// readBlob reads a cached blob back.
func readBlob(t *testing.T, c *Cache, h string) string {
	t.Helper()
	set, err := c.OpenBlobs([]string{h})
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	r, err := set.Reader(h)
	if err != nil {
		t.Fatalf("blob %.12s: %v", h, err)
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

func packFiles(t *testing.T, dir string) int {
	ents, err := os.ReadDir(filepath.Join(dir, "packs"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestCachePacks: a pack keeps the blobs that arrived whole and checked,
// refuses bytes of another hash, survives a restart, and Collect drops
// unused packs and rewrites one that is mostly unused.
func TestCachePacks(t *testing.T) {
	dir := t.TempDir()
	c, err := OpenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b, small, big := "alpha", "bravo", "small", strings.Repeat("big ", 1000)
	hash := func(s string) string { return manifest.Hash([]byte(s)) }
	p, err := c.NewPack()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{a, b} {
		if err := p.Add(hash(s), int64(len(s)), strings.NewReader(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Add(hash("charlie"), 5, strings.NewReader("delta")); err == nil {
		t.Error("a blob with bytes of another hash was accepted")
	}
	if err := p.Add(hash(small), int64(len(small)), strings.NewReader(small)); err == nil {
		t.Error("a pack took a blob after a failed one")
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if !c.HasBlob(hash(a)) || !c.HasBlob(hash(b)) || c.HasBlob(hash("charlie")) || c.HasBlob(hash(small)) {
		t.Fatal("the pack holds other blobs than the two whole ones")
	}

	// A restart finds the blobs again.
	if c, err = OpenCache(dir); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, c, hash(b)); got != b {
		t.Fatalf("after a restart blob b reads %q", got)
	}

	// A second pack; then only a manifest naming small is kept: the
	// first pack goes, the second is rewritten without big.
	p, _ = c.NewPack()
	for _, s := range []string{small, big} {
		if err := p.Add(hash(s), int64(len(s)), bytes.NewReader([]byte(s))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte(small), 0o644)
	tree, err := manifest.FromDir(src)
	if err != nil {
		t.Fatal(err)
	}
	data := tree.Manifest.Encode()
	if _, err := c.PutManifest(manifest.Hash(data), data); err != nil {
		t.Fatal(err)
	}
	c.Collect([]string{manifest.Hash(data)})
	if c.HasBlob(hash(a)) || c.HasBlob(hash(big)) || !c.HasBlob(hash(small)) {
		t.Error("Collect kept an unused blob or dropped a used one")
	}
	if n := packFiles(t, dir); n != 1 {
		t.Errorf("%d packs after Collect, want 1", n)
	}
	if got := readBlob(t, c, hash(small)); got != small {
		t.Errorf("after Collect blob small reads %q", got)
	}
	if fi, _ := os.ReadDir(filepath.Join(dir, "packs")); len(fi) == 1 {
		if info, _ := fi[0].Info(); info.Size() > int64(len(small))+100 {
			t.Errorf("the rewritten pack has %d bytes", info.Size())
		}
	}
	if c, err = OpenCache(dir); err != nil || !c.HasBlob(hash(small)) {
		t.Errorf("after Collect and a restart: %v", err)
	}
}
