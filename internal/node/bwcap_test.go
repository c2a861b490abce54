package node

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/shaping"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestCapFileKeepsLastGood: a cap file that is garbled or cannot be read
// leaves the last good cap in force and logs why; a removed file means
// no cap set, the default.
func TestCapFileKeepsLastGood(t *testing.T) {
	state := t.TempDir()
	var logs testutil.Buffer
	n := &network{log: slog.New(slog.NewTextHandler(&logs, nil)), capKick: make(chan struct{}, 1)}
	path := filepath.Join(state, shaping.CapFile)
	if err := shaping.WriteCap(state, 3000); err != nil {
		t.Fatal(err)
	}
	n.reloadCap(state)
	if got := n.wantCap(); got != 3000 {
		t.Fatalf("cap %d after a good file, want 3000", got)
	}
	for _, tc := range []struct {
		what  string
		spoil func() error
	}{
		{"garbled", func() error { return os.WriteFile(path, []byte("lots\n"), 0o644) }},
		{"zero", func() error { return os.WriteFile(path, []byte("0\n"), 0o644) }},
		{"unreadable (a directory)", func() error {
			if err := os.Remove(path); err != nil {
				return err
			}
			return os.Mkdir(path, 0o755)
		}},
	} {
		if err := tc.spoil(); err != nil {
			t.Fatal(err)
		}
		before := logs.Len()
		n.reloadCap(state)
		if got := n.wantCap(); got != 3000 {
			t.Errorf("%s file: cap %d, want the last good 3000", tc.what, got)
		}
		if logged := logs.String()[before:]; !strings.Contains(logged, "level=ERROR") || !strings.Contains(logged, "node cap") {
			t.Errorf("%s file: logged %q, want an error", tc.what, logged)
		}
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	n.reloadCap(state)
	if got := n.wantCap(); got != shaping.DefaultRootRate {
		t.Errorf("no cap file: cap %d, want the default %d", got, shaping.DefaultRootRate)
	}
}
