// Package testutil holds helpers shared by Orbis's tests: root checks that
// fail loudly in CI, and a slog logger that writes to t.Log.
package testutil

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// RequireRoot fails the test when it does not run as root under CI (CI runs
// as root, so a root test that cannot run there is broken), and skips it with
// a clear reason on a developer's unprivileged machine.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("this test needs root, and CI runs as root: run it as root")
	}
	t.Skip("needs root (runs in CI as root)")
}

// Logger returns a logger whose records go to t.Log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// Context returns a context cancelled when the test ends.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// ArtifactDir is where a test keeps what a person looks at after the run
// (screenshots): $ORBIS_TEST_ARTIFACTS (`make test` sets it to
// test-artifacts/), or a directory removed with the test.
func ArtifactDir(t testing.TB) string {
	d := os.Getenv("ORBIS_TEST_ARTIFACTS")
	if d == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// Chromium returns the path of Debian's chromium, for browser tests: under
// CI a missing one fails the test, elsewhere it skips it.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: install it (make test-deps installs Debian's chromium)")
	}
	t.Skip("chromium not found (apt-get install -y chromium); CI runs this test")
	return ""
}

// Buffer is a bytes.Buffer safe for one writer (a command's output) and
// readers polling it meanwhile.
type Buffer struct {
	// mu guards the following.
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns a copy of what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Bytes returns a copy of what was written so far.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.b.Bytes())
}

// Len is how many bytes were written so far.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Len()
}
