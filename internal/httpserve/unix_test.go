package httpserve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenUnix: the socket gets its mode, a stale socket is replaced,
// and a file that is not a socket is left alone.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "s.sock")
	l, err := ListenUnix(path, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket %v, %v; want a 0666 socket", fi.Mode(), err)
	}
	l.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	l.Close() // leaves a stale socket file behind
	l, err = ListenUnix(path, 0o600)
	if err != nil {
		t.Fatalf("replacing a stale socket: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("replacing socket %v, %v; want 0600", fi.Mode(), err)
	}
	l.Close()
	file := filepath.Join(dir, "notasocket")
	os.WriteFile(file, []byte("keep"), 0o644)
	if _, err := ListenUnix(file, 0o600); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a regular file: %v, want refused", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep" {
		t.Error("the regular file was changed")
	}
}
