package verbs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

// fakeNM serves a node manager over a fake runtime on a socket of the
// test's, and returns the socket and the manager.
func fakeNM(t *testing.T) (string, *nodemgr.Manager) {
	t.Helper()
	rt, err := nodemgr.NewFakeRuntime("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := nodemgr.Open(context.Background(), nodemgr.Options{StateDir: filepath.Join(dir, "nm"), Runtime: rt,
		Node: nodemgr.Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "nm.sock")
	l, err := nodemgr.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go m.Serve(ctx, l)
	t.Cleanup(func() { cancel(); m.Close() })
	return sock, m
}

// TestMakeSliver checks the first half of `orbis sliver run`: the sliver
// is bound and the rcap printed; a bad rspec is a usage error; a failed
// bind releases the rcap it acquired.
func TestMakeSliver(t *testing.T) {
	testutil.RequireRoot(t)
	sock, m := fakeNM(t)
	ctx := testutil.Context(t)
	var stderr bytes.Buffer
	env := &cli.Env{Stderr: &stderr}
	if err := makeSliver(ctx, env, sock, "orbistest_run", `{"cpu_shares":1}`); err != nil {
		t.Fatal(err)
	}
	var got api.AcquireResponse
	if err := json.Unmarshal(stderr.Bytes(), &got); err != nil || got.Rcap == "" {
		t.Errorf("stderr %q: want {\"rcap\": ...} (%v)", stderr.String(), err)
	}
	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Slivers) != 1 || list.Slivers[0].Name != "orbistest_run" || len(list.Rcaps) != 1 {
		t.Fatalf("after sliver run: %+v, want one rcap bound to orbistest_run", list)
	}

	var usage *cli.UsageError
	if err := makeSliver(ctx, env, sock, "orbistest_bad", `{"cpu_shares":`); !errors.As(err, &usage) {
		t.Errorf("malformed rspec: %v, want a usage error", err)
	}
	if err := makeSliver(ctx, env, sock, "no slice name", `{"cpu_shares":1}`); err == nil {
		t.Error("bind of a bad slice name succeeded")
	}
	if list, _ := m.List(ctx); len(list.Rcaps) != 1 {
		t.Errorf("after a failed bind: %d rcaps, want the first one only (the failed bind's released)", len(list.Rcaps))
	}
}
