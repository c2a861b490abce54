package store

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
)

// TestSQLiteDurability checks the settings that make an acknowledged
// write survive a crash: WAL, synchronous=FULL, foreign keys, and readers
// that cannot write.
func TestSQLiteDurability(t *testing.T) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "central.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := s.(*db)
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "10000"} {
		var got string
		if err := d.w.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("writer PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
	var qo string
	if err := d.r.QueryRowContext(ctx, "PRAGMA query_only").Scan(&qo); err != nil || qo != "1" {
		t.Errorf("reader PRAGMA query_only = %q, %v", qo, err)
	}
}

func TestRebind(t *testing.T) {
	got := postgresDialect{}.rebind(`SELECT ? FROM t WHERE a LIKE ? ESCAPE '\' AND b = '?' AND c IN (?, ?)`)
	want := `SELECT $1 FROM t WHERE a LIKE $2 ESCAPE '\' AND b = '?' AND c IN ($3, $4)`
	if got != want {
		t.Errorf("rebind:\n got  %s\n want %s", got, want)
	}
}

func TestLikePattern(t *testing.T) {
	for in, want := range map[string]string{`a*b`: `a%b`, `a%b`: `a%b`, `a_b`: `a\_b`, `a\b`: `a\\b`, `*_*`: `%\_%`} {
		if got := likePattern(in); got != want {
			t.Errorf("likePattern(%q) = %q, want %q", in, got, want)
		}
	}
}
