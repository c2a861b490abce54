package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// nodesChannel is the PostgreSQL notification channel BumpNodes signals
// on, at commit; its payload is empty (the listener reads the versions).
const nodesChannel = "orbis_node_versions"

// sqliteWatchPoll is how often WatchNodes asks SQLite whether another
// connection committed.
const sqliteWatchPoll = 100 * time.Millisecond

// WatchNodes calls changed once it is watching, and then soon after any
// process on the database commits a change of node versions, until ctx
// ends or the watch fails. PostgreSQL: a LISTEN connection of its own,
// which BumpNodes's NOTIFY reaches at commit. SQLite: PRAGMA data_version
// on one reading connection, every sqliteWatchPoll (any commit counts).
func (s *db) WatchNodes(ctx context.Context, changed func()) error {
	if s.url != "" {
		return s.listenNodes(ctx, changed)
	}
	return s.pollDataVersion(ctx, changed)
}

// listenNodes is WatchNodes on PostgreSQL.
func (s *db) listenNodes(ctx context.Context, changed func()) error {
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return fmt.Errorf("watch nodes: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+nodesChannel); err != nil {
		return fmt.Errorf("watch nodes: listen: %w", err)
	}
	changed() // whatever committed before LISTEN was missed
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch nodes: %w", err)
		}
		changed()
	}
}

// pollDataVersion is WatchNodes on SQLite: data_version changes on a
// connection when another connection, of this process or another,
// commits.
func (s *db) pollDataVersion(ctx context.Context, changed func()) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	defer conn.Close()
	read := func() (int64, error) {
		var v int64
		err := conn.QueryRowContext(ctx, "PRAGMA data_version").Scan(&v)
		return v, err
	}
	last, err := read()
	if err != nil {
		return fmt.Errorf("watch nodes: data_version: %w", err)
	}
	changed()
	t := time.NewTicker(sqliteWatchPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		v, err := read()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("watch nodes: data_version: %w", err)
		}
		if v != last {
			last = v
			changed()
		}
	}
}
