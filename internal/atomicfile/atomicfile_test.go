package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// names lists dir's entries, sorted.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	slices.Sort(out)
	return out
}

func TestWriteFileContentAndMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, tc := range []struct {
		data []byte
		perm fs.FileMode
	}{{[]byte("one\n"), 0o600}, {[]byte("two, longer\n"), 0o644}, {nil, 0o640}} {
		if err := WriteFile(p, tc.data, tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, tc.data) {
			t.Fatalf("content %q, %v; want %q", got, err, tc.data)
		}
		st, _ := os.Stat(p)
		if st.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.perm)
		}
		if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
			t.Errorf("directory holds %v after a write, want only f", got)
		}
	}
}

func TestFailedWriteKeepsOldAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want the writer's error", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("target is %q after a failed write, want the old content", got)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Errorf("directory holds %v after a failed write, want only f", got)
	}
}

func TestCloseWithoutCommitDiscards(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "f"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("never")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); len(got) != 0 {
		t.Errorf("directory holds %v, want nothing", got)
	}
	if err := f.Commit(); err == nil {
		t.Error("Commit after Close succeeded")
	}
}

func TestCommitAs(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(filepath.Join(dir, "partial"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("hashed")
	if err := f.CommitAs("abc"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, dir); !slices.Equal(got, []string{"abc"}) {
		t.Errorf("directory holds %v, want abc", got)
	}
	g, _ := Create(filepath.Join(dir, "x"), 0o644)
	defer g.Close()
	if err := g.CommitAs("../escape"); err == nil {
		t.Error("CommitAs into another directory succeeded")
	}
}

// TestPlantedSymlinkNotFollowed has an attacker plant a symlink at the
// very name the writer picks for its temporary file: the writer must not
// open it (O_EXCL|O_NOFOLLOW), must pick another name, and must leave the
// symlink's target alone.
func TestPlantedSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	planted := tempPrefix + "f-planted"
	if err := os.Symlink(victim, filepath.Join(dir, planted)); err != nil {
		t.Fatal(err)
	}
	old := randomSuffix
	defer func() { randomSuffix = old }()
	n := 0
	randomSuffix = func() string {
		n++
		if n == 1 {
			return "planted"
		}
		return old()
	}
	if err := WriteFileIn(root, "f", []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n < 2 {
		t.Errorf("the writer used the planted name")
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious" {
		t.Errorf("the symlink's target became %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "mine" {
		t.Errorf("target is %q", got)
	}
	if fi, err := os.Lstat(filepath.Join(dir, planted)); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the planted symlink was touched: %v", err)
	}
}

func TestSymlinkAtTargetIsReplacedNotFollowed(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("precious"), 0o600)
	p := filepath.Join(dir, "f")
	if err := os.Symlink(victim, p); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(victim); string(got) != "precious" {
		t.Errorf("the symlink's target became %q", got)
	}
	if fi, _ := os.Lstat(p); fi.Mode()&fs.ModeSymlink != 0 {
		t.Error("the target is still a symlink")
	}
}

func TestWriteInStaysInsideRoot(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := WriteFileIn(root, "sub/f", []byte("x"), 0o600); err == nil {
		t.Error("WriteFileIn wrote through a symlinked directory out of its root")
	}
	if got := names(t, outside); len(got) != 0 {
		t.Errorf("outside holds %v", got)
	}
}

// BenchmarkWriteFile is the cost of one crash-safe replacement of a small
// file (two fsyncs) in the test's temporary directory.
func BenchmarkWriteFile(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	data := bytes.Repeat([]byte("x"), 1024)
	for b.Loop() {
		if err := WriteFile(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

func TestWriteFileNoSync(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, data := range []string{"one", "two"} {
		if err := WriteFileNoSync(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(p); string(got) != data {
			t.Errorf("content %q, want %q", got, data)
		}
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if got := names(t, dir); !slices.Equal(got, []string{"f"}) {
		t.Errorf("directory holds %v", got)
	}
}

func BenchmarkWriteFileNoSync(b *testing.B) {
	p := filepath.Join(b.TempDir(), "f")
	data := bytes.Repeat([]byte("x"), 1024)
	for b.Loop() {
		if err := WriteFileNoSync(p, data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}
