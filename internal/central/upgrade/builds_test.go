package upgrade

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/testutil"
)

// self is this test binary: an ELF executable for this machine.
func self(t *testing.T) []byte {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newStore opens an empty SQLite store, closed when the test ends.
func newStore(t *testing.T) store.Store {
	s, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "central.db"), testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openBuilds opens the builds of st with the upgrade directory dir.
func openBuilds(t *testing.T, st store.Store, dir string, maxSize int64) *Builds {
	t.Helper()
	b, err := OpenBuilds(t.Context(), st.Upgrades(), dir, maxSize, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPublishSigns: a published build is signed, kept in the store, and
// offered with its bytes by any central process on it (here one with
// another upgrade directory), under the same key.
func TestPublishSigns(t *testing.T) {
	st := newStore(t)
	b := openBuilds(t, st, t.TempDir(), 0)
	bin := self(t)
	u, err := b.Publish(t.Context(), "1.2.3", runtime.GOARCH, bytes.NewReader(bin), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !api.VerifyUpgrade(u, b.PublicKey()) {
		t.Fatal("published build's signature does not verify")
	}
	tampered := u
	tampered.Version = "1.2.4"
	if api.VerifyUpgrade(tampered, b.PublicKey()) {
		t.Fatal("a changed version still verifies")
	}
	other := openBuilds(t, st, t.TempDir(), 0)
	cur, ok, err := other.Current(t.Context())
	if err != nil || !ok || cur.SHA256 != u.SHA256 || !bytes.Equal(other.PublicKey(), b.PublicKey()) || !api.VerifyUpgrade(cur, other.PublicKey()) {
		t.Fatalf("another process: build %+v ok %v err %v, same key %v", cur, ok, err, bytes.Equal(other.PublicKey(), b.PublicKey()))
	}
	for range 2 { // from the store, then from the process's copy
		f, err := other.Open(t.Context(), u.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(got, bin) {
			t.Fatalf("another process serves %d bytes, not the %d published", len(got), len(bin))
		}
	}
	if _, err := other.Open(t.Context(), strings.Repeat("0", 64)); err == nil {
		t.Fatal("opened a build never published")
	}
	if _, err := other.Open(t.Context(), "../../etc/passwd"); err == nil {
		t.Fatal("opened a path, not a build")
	}
}

// TestKeyImported: a key file left by a central before the store is
// imported into an empty store, so nodes that kept its public key go on
// verifying; a store that has a key keeps it.
func TestKeyImported(t *testing.T) {
	old := t.TempDir()
	k, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, KeyFile), []byte(k), 0o600); err != nil {
		t.Fatal(err)
	}
	want, _ := parseKey([]byte(k))
	st := newStore(t)
	b := openBuilds(t, st, old, 0)
	if !bytes.Equal(b.PublicKey(), want.Public().(ed25519.PublicKey)) {
		t.Fatal("the key file was not imported")
	}
	if other := openBuilds(t, st, t.TempDir(), 0); !bytes.Equal(other.PublicKey(), b.PublicKey()) {
		t.Fatal("another process signs with another key")
	}
	// Another data directory with a key file of its own: the store's
	// key stays.
	dir := t.TempDir()
	k2, _ := newKey()
	os.WriteFile(filepath.Join(dir, KeyFile), []byte(k2), 0o600)
	if third := openBuilds(t, st, dir, 0); !bytes.Equal(third.PublicKey(), b.PublicKey()) {
		t.Fatal("a second key file replaced the store's key")
	}
	// A key file that is no key is refused, not replaced.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, KeyFile), []byte("junk"), 0o600)
	if _, err := OpenBuilds(t.Context(), newStore(t).Upgrades(), bad, 0, nil); err == nil || !strings.Contains(err.Error(), "no PEM block") {
		t.Fatalf("a junk key file: %v", err)
	}
}

// TestOldBuildImported: the build a central before the store published
// (build.json beside its bytes, signed by the key file) is offered still.
func TestOldBuildImported(t *testing.T) {
	dir := t.TempDir()
	k, _ := newKey()
	os.WriteFile(filepath.Join(dir, KeyFile), []byte(k), 0o600)
	key, _ := parseKey([]byte(k))
	bin := self(t)
	sum := sha256.Sum256(bin)
	u := api.Upgrade{Version: "old-1", Arch: runtime.GOARCH, Size: int64(len(bin)), SHA256: hex.EncodeToString(sum[:]), NodeIDs: []int64{7}}
	u.Signature = ed25519.Sign(key, api.UpgradeMessage(u))
	desc, _ := json.Marshal(u)
	os.WriteFile(filepath.Join(dir, oldBuildFile), desc, 0o600)
	os.WriteFile(filepath.Join(dir, "build-"+u.SHA256+".bin"), bin, 0o600)
	st := newStore(t)
	b := openBuilds(t, st, dir, 0)
	cur, ok, err := b.Current(t.Context())
	if err != nil || !ok || cur.SHA256 != u.SHA256 || !slices.Equal(cur.NodeIDs, []int64{7}) || !api.VerifyUpgrade(cur, b.PublicKey()) {
		t.Fatalf("offered after the import: %+v, %v, %v", cur, ok, err)
	}
	// Opening again imports nothing more.
	openBuilds(t, st, dir, 0)
	if kept, _ := st.Upgrades().UpgradeBuilds(t.Context()); len(kept) != 1 {
		t.Fatalf("%d builds after a second start, want the one imported", len(kept))
	}
	f, err := openBuilds(t, st, t.TempDir(), 0).Open(t.Context(), u.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got, _ := io.ReadAll(f); !bytes.Equal(got, bin) {
		t.Fatal("another process serves other bytes")
	}
}

// TestKeyRace: processes starting at once on an empty store all sign
// with one key.
func TestKeyRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "central.db")
	var stores []store.Store
	for range 4 {
		s, err := store.OpenSQLite(t.Context(), path, testutil.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	keys := make([]ed25519.PublicKey, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			b, err := OpenBuilds(context.Background(), s.Upgrades(), t.TempDir(), 0, nil)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = b.PublicKey()
		})
	}
	wg.Wait()
	for _, k := range keys {
		if !bytes.Equal(k, keys[0]) || len(k) == 0 {
			t.Fatalf("processes sign with different keys: %x", keys)
		}
	}
}

func TestPublishRefusesBadInput(t *testing.T) {
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	for _, tc := range []struct {
		name, version, arch string
		data                []byte
		percent             int
		maxSize             int64
		want                string
	}{
		{"not ELF", "1", runtime.GOARCH, []byte("#!/bin/sh\necho hi\n"), 0, 0, "not an ELF executable"},
		{"other arch", "1", other, self(t), 0, 0, "not " + other},
		{"too large", "1", runtime.GOARCH, self(t), 0, 1 << 10, "larger than 1024 bytes"},
		{"bad version", "1 2", runtime.GOARCH, self(t), 0, 0, "version"},
		{"unknown arch", "1", "vax", self(t), 0, 0, "unknown architecture"},
		{"bad percent", "1", runtime.GOARCH, self(t), 101, 0, "percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openBuilds(t, newStore(t), t.TempDir(), tc.maxSize)
			_, err := b.Publish(t.Context(), tc.version, tc.arch, bytes.NewReader(tc.data), nil, tc.percent)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Publish: %v, want an error saying %q", err, tc.want)
			}
			if _, ok, _ := b.Current(t.Context()); ok {
				t.Fatal("a refused build was published")
			}
		})
	}
}

// TestKeepsNewest: the store keeps the newest KeepBuilds builds, and a
// process's copies of the others are removed.
func TestKeepsNewest(t *testing.T) {
	st := newStore(t)
	dir := t.TempDir()
	b := openBuilds(t, st, dir, 0)
	bin := self(t)
	var first api.Upgrade
	for i := range KeepBuilds + 1 {
		// Another build each time: the same executable with a byte more.
		data := append(bytes.Clone(bin), make([]byte, i)...)
		u, err := b.Publish(t.Context(), "v"+string(rune('a'+i)), runtime.GOARCH, bytes.NewReader(data), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = u
		}
		f, err := b.Open(t.Context(), u.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	kept, err := st.Upgrades().UpgradeBuilds(t.Context())
	if err != nil || len(kept) != KeepBuilds {
		t.Fatalf("kept %d builds (%v), want %d", len(kept), err, KeepBuilds)
	}
	if _, err := os.Stat(b.copyPath(first.SHA256)); !os.IsNotExist(err) {
		t.Fatalf("the copy of a build no longer kept is still there: %v", err)
	}
}

// TestSweepsPartial: uploads and copies a crash left are removed at
// start once old; young ones (another process's, under way) stay.
func TestSweepsPartial(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-2 * partialAge)
	for _, f := range []string{"upload-1", "copy-1", "upload-2"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if f != "upload-2" {
			os.Chtimes(filepath.Join(dir, f), old, old)
		}
	}
	openBuilds(t, newStore(t), dir, 0)
	left, _ := filepath.Glob(filepath.Join(dir, "*-*"))
	if len(left) != 1 || filepath.Base(left[0]) != "upload-2" {
		t.Fatalf("left after the sweep: %v, want only the young upload-2", left)
	}
}

func TestOfferedTo(t *testing.T) {
	if !OfferedTo(api.Upgrade{NodeIDs: []int64{3}}, 3) || OfferedTo(api.Upgrade{NodeIDs: []int64{3}}, 4) {
		t.Fatal("named nodes")
	}
	n := 0
	for id := int64(1); id <= 1000; id++ {
		if OfferedTo(api.Upgrade{Percent: 30}, id) {
			n++
			if !OfferedTo(api.Upgrade{Percent: 60}, id) {
				t.Fatalf("node %d chosen at 30%% but not at 60%%", id)
			}
		}
	}
	if n < 200 || n > 400 {
		t.Fatalf("30%% chose %d of 1000 nodes", n)
	}
}
