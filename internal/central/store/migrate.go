package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrations holds each dialect's schema steps as NNNN_name.sql files,
// applied in order, each in its own transaction, and recorded in
// schema_migrations. A step, once released, is never edited: a change is a
// new step.
//
//go:embed migrations
var migrations embed.FS

// migration is one schema step.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the dialect's steps in version order.
func loadMigrations(d dialect) ([]migration, error) {
	dir := path.Join("migrations", d.name())
	files, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []migration
	for _, f := range files {
		num, _, ok := strings.Cut(f.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(f.Name(), ".sql") {
			return nil, fmt.Errorf("read migrations: bad file name %q", f.Name())
		}
		b, err := migrations.ReadFile(path.Join(dir, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: f.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("read migrations: %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate brings the schema up to the newest step, and refuses a database
// whose schema is newer than this code knows.
func migrate(ctx context.Context, conn *sql.DB, d dialect, log *slog.Logger) error {
	ms, err := loadMigrations(d)
	if err != nil {
		return err
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for {
		done, err := migrateStep(ctx, conn, d, ms, log)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateStep applies the next missing step in one transaction and
// reports whether the schema was already current.
func migrateStep(ctx context.Context, conn *sql.DB, d dialect, ms []migration, log *slog.Logger) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if d.name() == "postgres" {
		// Several central processes may start at once on one database.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7262001)"); err != nil {
			return false, fmt.Errorf("migrate: lock: %w", err)
		}
	}
	var have int
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return false, fmt.Errorf("migrate: read version: %w", err)
	}
	if have > len(ms) {
		return false, fmt.Errorf("migrate: database schema version %d is newer than this orbis knows (%d): use a newer orbis", have, len(ms))
	}
	if have == len(ms) {
		return true, nil
	}
	m := ms[have]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.name, err)
	}
	ins := d.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
	if _, err := tx.ExecContext(ctx, ins, m.version, m.name, time.Now().Unix()); err != nil {
		return false, fmt.Errorf("migrate %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrate %s: commit: %w", m.name, err)
	}
	log.Info("store: schema migrated", "dialect", d.name(), "version", m.version, "step", m.name)
	return false, nil
}
