package nodemgr

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// testNode is the node every test runs on: 8 GiB of memory, 100 GiB of
// slice storage.
var testNode = Node{MemoryBytes: 8 << 30, DiskBytes: 100 << 30, DefaultMemoryMax: 1 << 30, DefaultDiskMax: 10 << 30,
	EphemeralLow: 32768, EphemeralHigh: 60999}

// t0 is when the fake clock starts.
var t0 = time.Unix(1_800_000_000, 0)

// soon is an hour after t0: the end of the rcaps slices acquire, which
// must end.
var soon = t0.Unix() + 3600

type testEnv struct {
	t        *testing.T
	m        *Manager
	rt       *FakeRuntime
	clock    *FakeClock
	stateDir string
	c        *api.NMClient // nil unless serve was called
	sockPath string
	log      *slog.Logger // nil: testutil.Logger
	claimDir string       // Options.UIDClaimDir
}

func (e *testEnv) sock() string { return e.sockPath }

// newEnv opens a Manager on a fresh state directory with an in-memory
// FakeRuntime and a fake clock.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	rt, err := NewFakeRuntime("")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, rt: rt, clock: NewFakeClock(t0), stateDir: t.TempDir()}
	e.open()
	return e
}

func (e *testEnv) options() Options {
	log := e.log
	if log == nil {
		log = testutil.Logger(e.t)
	}
	return Options{StateDir: e.stateDir, Runtime: e.rt, Node: testNode, Clock: e.clock, Log: log, UIDClaimDir: e.claimDir}
}

func (e *testEnv) open() {
	e.t.Helper()
	m, err := Open(testutil.Context(e.t), e.options())
	if err != nil {
		e.t.Fatalf("open: %v", err)
	}
	e.m = m
	e.t.Cleanup(func() { m.Close() })
}

// reopen closes the Manager and opens it again on the same state, as a
// restart of the node manager would.
func (e *testEnv) reopen() {
	e.t.Helper()
	if err := e.m.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// serve serves the Manager on a socket and sets e.c to a client of it.
func (e *testEnv) serve() {
	e.t.Helper()
	dir, err := os.MkdirTemp("", "orbistest-nm")
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "nm.sock")
	e.sockPath = sock
	l, err := Listen(sock)
	if err != nil {
		e.t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		e.t.Fatalf("socket mode: %v, %v (want 0600)", fi.Mode(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.m.Serve(ctx, l) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("serve: %v", err)
		}
	})
	e.c = api.NewNMClient(sock)
}

func (e *testEnv) acquire(rs api.Rspec) api.Rcap {
	e.t.Helper()
	rc, err := e.m.Acquire(context.Background(), rs)
	if err != nil {
		e.t.Fatalf("acquire %+v: %v", rs, err)
	}
	return rc
}

func (e *testEnv) bind(slice string, rc api.Rcap) {
	e.t.Helper()
	if err := e.m.Bind(context.Background(), slice, rc, api.BindAttrs{Keys: []string{"ssh-ed25519 AAAA user@x"}}); err != nil {
		e.t.Fatalf("bind %s: %v", slice, err)
	}
}

// eventually polls cond for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantErr checks that err is of kind and its message contains msg.
func wantErr(t *testing.T, err, kind error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v %q", kind, msg)
	}
	if !errors.Is(err, kind) || !strings.Contains(err.Error(), msg) {
		t.Fatalf("got error %q, want %v containing %q", err, kind, msg)
	}
}

var sliverRights = api.Privileges{CreateSliver: true}
