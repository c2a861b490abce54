package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/node/rm"
)

// writeList writes a sliver list where the resource manager keeps it.
func writeList(t *testing.T, rmDir string, slivers ...api.Sliver) {
	t.Helper()
	data, _ := json.Marshal(api.Slivers{Version: 1, Slivers: slivers})
	if err := os.MkdirAll(rmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rm.ListFile(rmDir), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSliceBook: the book learns slices from the resource manager's last
// list when it opens and from each list after (Learn, at once, with no
// file to poll), keeps those gone from it (the last hour's pages still
// show them), across restarts, within its bound, forgetting the longest
// unseen first.
func TestSliceBook(t *testing.T) {
	state := t.TempDir()
	rmDir, path := filepath.Join(state, "rm"), filepath.Join(state, "audit-slices.json")
	now := time.Unix(1_000_000, 0)
	open := func() *sliceBook {
		return openSliceBook(rmDir, path, 3, func() time.Time { return now }, testLog())
	}
	sv := func(i int) api.Sliver {
		return api.Sliver{Name: fmt.Sprintf("s_%d", i), Description: fmt.Sprint("slice ", i), URL: "http://x", Emails: []string{fmt.Sprintf("u%d@x", i)}}
	}
	writeList(t, rmDir, sv(1), sv(2))
	b := open()
	if in, err := b.Info(t.Context(), "s_1"); err != nil || in.Description != "slice 1" || in.Emails[0] != "u1@x" {
		t.Fatalf("Info(s_1) = %+v, %v", in, err)
	}
	// s_1 leaves the list; later lists bring s_3, then s_4.
	for i, list := range [][]api.Sliver{{sv(2), sv(3)}, {sv(3), sv(4)}} {
		now = now.Add(time.Minute)
		writeList(t, rmDir, list...) // as the resource manager persists it, then
		b.Learn(api.Slivers{Version: int64(i + 2), Slivers: list})
		if _, err := b.Info(t.Context(), list[1].Name); err != nil {
			t.Fatalf("list %d: %v", i, err)
		}
	}
	// Bound 3: s_1, unseen the longest, went; s_2 stays though gone.
	b = open() // and the book survives a restart
	for _, c := range []struct {
		name string
		ok   bool
	}{{"s_1", false}, {"s_2", true}, {"s_3", true}, {"s_4", true}} {
		_, err := b.Info(t.Context(), c.name)
		if (err == nil) != c.ok {
			t.Errorf("Info(%s): %v; want known %v", c.name, err, c.ok)
		}
	}
}

// TestArchiveWithoutCentral: a node that follows no central keeps its
// closed minutes in the spool.
func TestArchiveWithoutCentral(t *testing.T) {
	a := newCentralArchive(filepath.Join(t.TempDir(), "rm"), testLog())
	err := a.Push(t.Context(), "n", []audit.Row{{Slice: "s", Packets: 1}})
	if !errors.Is(err, errNoCentral) {
		t.Errorf("Push without central: %v, want errNoCentral", err)
	}
}
