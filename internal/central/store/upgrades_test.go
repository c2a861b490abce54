package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store"
)

// build returns n random bytes and a build of them.
func build(t testing.TB, version string, n int) (store.UpgradeBuild, []byte) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	sum := sha256.Sum256(data)
	return store.UpgradeBuild{Upgrade: api.Upgrade{Version: version, Arch: "amd64", Size: int64(n),
		SHA256: hex.EncodeToString(sum[:]), Signature: []byte("sig-" + version), NodeIDs: []int64{3, 5}}}, data
}

// readBuild reads the bytes of build sha.
func readBuild(ctx context.Context, s store.Store, sha string) ([]byte, error) {
	r, err := s.Upgrades().OpenBuild(ctx, sha)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// testUpgradeKey: of stores that race to make the signing key on an empty
// database, all end with the same one, and a later one cannot replace it.
func testUpgradeKey(t *testing.T, b backend) {
	ctx := t.Context()
	dsn, dir := b.fresh(t)
	var stores []store.Store
	for range 4 {
		stores = append(stores, open(t, dsn, dir))
	}
	if _, err := stores[0].Upgrades().SigningKey(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("signing key of an empty store: %v, want ErrNotFound", err)
	}
	got := make([]string, len(stores))
	errs := make([]error, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.Upgrades().InitSigningKey(ctx, fmt.Sprintf("key of process %d", i))
		})
	}
	close(start)
	wg.Wait()
	for i := range stores {
		if errs[i] != nil {
			t.Fatalf("process %d: %v", i, errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("processes ended with different keys: %q", got)
		}
	}
	if again, err := stores[1].Upgrades().InitSigningKey(ctx, "a later key"); err != nil || again != got[0] {
		t.Fatalf("a later InitSigningKey: %q, %v; want the first key %q kept", again, err, got[0])
	}
	if k, err := stores[2].Upgrades().SigningKey(ctx); err != nil || k != got[0] {
		t.Fatalf("SigningKey: %q, %v; want %q", k, err, got[0])
	}
	if _, err := stores[3].Upgrades().InitSigningKey(ctx, ""); err == nil {
		t.Fatal("an empty key was taken")
	}
}

// testUpgradeBuilds: builds are stored whole or not at all, read back in
// chunks, and only the newest kept with their bytes.
func testUpgradeBuilds(t *testing.T, b backend) {
	ctx := t.Context()
	s := b.newStore(t)
	u := s.Upgrades()
	if _, err := u.LatestBuild(ctx); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("latest build of an empty store: %v, want ErrNotFound", err)
	}
	first, data := build(t, "1", 2<<20+12345) // three chunks, the last short
	if err := u.AddBuild(ctx, &first, bytes.NewReader(data), 3); err != nil {
		t.Fatal(err)
	}
	if first.BuildID == 0 || first.Created == 0 {
		t.Fatalf("AddBuild set id %d, created %d", first.BuildID, first.Created)
	}
	got, err := u.LatestBuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "latest build", got, first)
	if back, err := readBuild(ctx, s, first.SHA256); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("read build back: %d bytes, %v; want the %d published", len(back), err, len(data))
	}

	// Bytes that are not the build's store nothing.
	bad, badData := build(t, "2", 1000)
	for name, r := range map[string]io.Reader{
		"other bytes": bytes.NewReader(append([]byte{1}, badData[1:]...)),
		"short":       bytes.NewReader(badData[:999]),
		"long":        bytes.NewReader(append(badData, 0)),
	} {
		if err := u.AddBuild(ctx, &bad, r, 3); err == nil {
			t.Fatalf("%s: AddBuild took bytes that are not the build's", name)
		}
		if got, err := u.LatestBuild(ctx); err != nil || got.BuildID != first.BuildID {
			t.Fatalf("%s: latest build after a refused one: %+v, %v", name, got, err)
		}
	}
	if _, err := u.OpenBuild(ctx, bad.SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused build's bytes: %v, want ErrNotFound", err)
	}

	// The same bytes published again (to all nodes) share them; a
	// reader of them fails, not ends early, when they are pruned.
	again := first
	again.NodeIDs, again.Percent = nil, 50
	if err := u.AddBuild(ctx, &again, bytes.NewReader(data), 3); err != nil {
		t.Fatal(err)
	}
	if got, _ := u.LatestBuild(ctx); got.BuildID != again.BuildID || got.Percent != 50 || got.NodeIDs != nil {
		t.Fatalf("latest build %+v, want the one published again %+v", got, again)
	}
	r, err := u.OpenBuild(ctx, first.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	var kept []store.UpgradeBuild
	for i := range 3 {
		nb, nd := build(t, fmt.Sprintf("3.%d", i), 100+i)
		if err := u.AddBuild(ctx, &nb, bytes.NewReader(nd), 3); err != nil {
			t.Fatal(err)
		}
		kept = append([]store.UpgradeBuild{nb}, kept...)
	}
	list, err := u.UpgradeBuilds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "builds kept", list, kept)
	if _, err := u.OpenBuild(ctx, first.SHA256); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a pruned build's bytes: %v, want ErrNotFound", err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading bytes pruned meanwhile: %v, want io.ErrUnexpectedEOF", err)
	}
	if err := u.AddBuild(ctx, &kept[0], bytes.NewReader(nil), 0); err == nil {
		t.Fatal("AddBuild kept no build")
	}
}
