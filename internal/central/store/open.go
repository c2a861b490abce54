package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver
)

// pruneEvery is how often prune runs.
const pruneEvery = time.Minute

// db is a Store over database/sql, for either dialect.
type db struct {
	d   dialect
	url string  // PostgreSQL's, for WatchNodes's own connection ("" on SQLite)
	w   *sql.DB // read-write transactions
	r   *sql.DB // read-only transactions (the same as w on PostgreSQL)
	log *slog.Logger

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// Open opens the store that dsn names: a postgres:// or postgresql:// URL
// opens PostgreSQL; an empty dsn (or "sqlite") the SQLite database
// central.db in dataDir, which is created if missing.
func Open(ctx context.Context, dsn, dataDir string, log *slog.Logger) (Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return OpenPostgres(ctx, dsn, log)
	}
	if dsn != "" && dsn != "sqlite" {
		return nil, fmt.Errorf("open store: unknown database %q (want postgres://..., or empty or \"sqlite\" for SQLite)", dsn)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return OpenSQLite(ctx, filepath.Join(dataDir, "central.db"), log)
}

// OpenSQLite opens (creating if needed) the SQLite database at path and
// brings its schema up to date. Writes go through one connection (BEGIN
// IMMEDIATE), so SQLite transactions never conflict; reads use a pool.
// Commits are synced to disk (WAL, synchronous=FULL) before Update returns.
func OpenSQLite(ctx context.Context, path string, log *slog.Logger) (Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// 64 MiB of page cache a connection (SQLite's default is 2 MiB): the
	// traffic archive's indexes outgrow the default at a million rows.
	q.Add("_pragma", "cache_size(-65536)")
	base := "file:" + (&url.URL{Path: path}).EscapedPath()
	w, err := sql.Open("sqlite", base+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	q.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", base+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	return start(ctx, &db{d: sqliteDialect{}, w: w, r: r, log: log})
}

// OpenPostgres connects to the PostgreSQL database at url and brings its
// schema up to date. Read-write transactions are SERIALIZABLE and retried
// on serialization failures and deadlocks.
func OpenPostgres(ctx context.Context, url string, log *slog.Logger) (Store, error) {
	w, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	w.SetMaxOpenConns(32)
	w.SetMaxIdleConns(32)
	return start(ctx, &db{d: postgresDialect{}, url: url, w: w, r: w, log: log})
}

// start checks the connection, migrates, and starts the pruner.
func start(ctx context.Context, s *db) (Store, error) {
	if err := s.w.PingContext(ctx); err != nil {
		s.closeDBs()
		return nil, fmt.Errorf("open %s: %w", s.d.name(), err)
	}
	if err := migrate(ctx, s.w, s.d, s.log); err != nil {
		s.closeDBs()
		return nil, err
	}
	pctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go s.pruneLoop(pctx)
	return s, nil
}

// Close stops the pruner and closes the connections.
func (s *db) Close() error {
	s.stop()
	s.wg.Wait()
	return s.closeDBs()
}

func (s *db) closeDBs() error {
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// Update runs fn in a read-write transaction, retrying conflicts with
// jittered exponential backoff (capped at maxBackoff a wait) for up to
// retryBudget: under heavy contention PostgreSQL's serializable
// transactions may conflict many times in a row.
func (s *db) Update(ctx context.Context, actor string, fn func(Tx) error) error {
	deadline := time.Now().Add(retryBudget)
	for attempt := 1; ; attempt++ {
		err := s.run(ctx, s.w, actor, true, fn)
		if err == nil || !s.d.retryable(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("store update: gave up after %d conflicts: %w", attempt, err)
		}
		s.log.Debug("store: transaction conflict, retrying", "attempt", attempt, "err", err)
		ceiling := min(2*time.Millisecond<<min(attempt, 8), maxBackoff)
		select {
		case <-time.After(time.Duration(rand.Int64N(int64(ceiling)) + 1)):
		case <-ctx.Done():
			return fmt.Errorf("store update: %w", ctx.Err())
		}
	}
}

// Retrying conflicting transactions.
const (
	retryBudget = 20 * time.Second
	maxBackoff  = 250 * time.Millisecond
)

// View runs fn in a read-only snapshot.
func (s *db) View(ctx context.Context, fn func(Tx) error) error {
	return s.run(ctx, s.r, "", false, fn)
}

// run is one attempt of a transaction.
func (s *db) run(ctx context.Context, pool *sql.DB, actor string, write bool, fn func(Tx) error) (err error) {
	opts := s.d.txOptions(write)
	stx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	t := &tx{ctx: ctx, tx: stx, d: s.d, actor: actor, write: write, now: time.Now().Unix()}
	defer func() {
		if err != nil {
			stx.Rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// pruneLoop folds node version rows and drops expired sessions and
// tokens now and then.
func (s *db) pruneLoop(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("store: prune", "err", err)
			}
		}
	}
}
