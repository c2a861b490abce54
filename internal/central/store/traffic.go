package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// TrafficArchive keeps the traffic rows nodes push (the traffic auditor's
// archive, paper 4.4.3), outside the change log: one push is one
// transaction of its own, never an Update.
//
// Bounds: nothing is deleted by the archive itself; its owner calls
// PruneTraffic now and then with a retention and a row count (central
// does, every few minutes). Rows are indexed by destination and minute,
// so TrafficTo reads only the rows of the asked address and range.
type TrafficArchive interface {
	// AddTraffic stores one batch of a node's rows under the node's
	// hostname as central knows it. A batch whose ID the node already
	// pushed adds nothing: it returns added 0 and dup true. ErrNotFound
	// if there is no such node.
	AddTraffic(ctx context.Context, nodeID int64, batch api.TrafficBatch) (added int, dup bool, err error)
	// TrafficTo sums the rows to dst with minutes in [from, to) (Unix
	// seconds) per node, slice, protocol, port and TCP flags.
	TrafficTo(ctx context.Context, dst netip.Addr, from, to int64) ([]TrafficSum, error)
	// PruneTraffic deletes the rows of minutes before before, and the
	// oldest rows beyond maxRows (0: no count bound), and forgets the
	// batch IDs received before before (less an hour of clock skew). It
	// deletes in chunks, each its own transaction, so pushes go on
	// meanwhile, and returns how many rows it deleted.
	PruneTraffic(ctx context.Context, before, maxRows int64) (int64, error)
	// TrafficRows counts the rows kept.
	TrafficRows(ctx context.Context) (int64, error)
}

// TrafficSum is what TrafficTo returns: the traffic of one slice from
// one node with one protocol, port and set of TCP flags.
type TrafficSum struct {
	Node, Slice    string
	Proto          uint8
	DstPort        uint16
	TCPFlags       uint8
	Packets, Bytes uint64
	First, Last    int64 // minutes, Unix seconds
}

// Traffic returns the store's traffic archive.
func (s *db) Traffic() TrafficArchive { return trafficArchive{s} }

// trafficArchive implements TrafficArchive over a db.
type trafficArchive struct{ s *db }

// Chunks of PruneTraffic.
const trafficPruneChunk = 20000

// trafficSkew is how long batch IDs outlive the rows of their minutes: a
// node's clock may be ahead of central's.
const trafficSkew = 3600

// AddTraffic implements TrafficArchive.
func (a trafficArchive) AddTraffic(ctx context.Context, nodeID int64, b api.TrafficBatch) (added int, dup bool, err error) {
	err = a.s.archiveTx(ctx, func(tx *sql.Tx) error {
		added, dup = 0, false
		var host string
		err := tx.QueryRowContext(ctx, a.s.d.rebind("SELECT hostname FROM nodes WHERE node_id = ?"), nodeID).Scan(&host)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("node %d: %w", nodeID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("add traffic: %w", err)
		}
		res, err := tx.ExecContext(ctx, a.s.d.rebind("INSERT INTO traffic_batches (node_id, batch_id, received) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"),
			nodeID, b.ID, time.Now().Unix())
		if err != nil {
			return fmt.Errorf("add traffic batch: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			dup = err == nil
			return err
		}
		added = len(b.Rows)
		return a.insert(ctx, tx, host, b.Rows)
	})
	return added, dup, err
}

// trafficInsertRows is how many rows one PostgreSQL INSERT carries (9
// values a row, under its 65535 parameters): one round trip a row would
// cost more than the insert.
const trafficInsertRows = 1000

// insert adds rows: on PostgreSQL with multi-row statements, on SQLite
// (in process, no round trips) through one prepared statement.
func (a trafficArchive) insert(ctx context.Context, tx *sql.Tx, host string, rows []api.TrafficRow) error {
	if a.s.d.name() == "postgres" {
		for len(rows) > 0 {
			n := min(len(rows), trafficInsertRows)
			if err := a.insertMany(ctx, tx, host, rows[:n]); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, a.s.d.rebind(
		"INSERT INTO traffic (dst, minute, node, slice, proto, dport, tcp_flags, packets, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"))
	if err != nil {
		return fmt.Errorf("add traffic rows: %w", err)
	}
	defer stmt.Close()
	for _, r := range rows {
		_, err := stmt.ExecContext(ctx, trafficDst(r.Dst), r.Minute, host, r.Slice, int64(r.Proto), int64(r.DstPort),
			int64(r.TCPFlags), int64(r.Packets), int64(r.Bytes))
		if err != nil {
			return fmt.Errorf("add traffic rows: %w", err)
		}
	}
	return nil
}

// insertMany adds rows in one statement.
func (a trafficArchive) insertMany(ctx context.Context, tx *sql.Tx, host string, rows []api.TrafficRow) error {
	var q strings.Builder
	q.WriteString("INSERT INTO traffic (dst, minute, node, slice, proto, dport, tcp_flags, packets, bytes) VALUES ")
	args := make([]any, 0, 9*len(rows))
	for i, r := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
		args = append(args, trafficDst(r.Dst), r.Minute, host, r.Slice, int64(r.Proto), int64(r.DstPort),
			int64(r.TCPFlags), int64(r.Packets), int64(r.Bytes))
	}
	if _, err := tx.ExecContext(ctx, a.s.d.rebind(q.String()), args...); err != nil {
		return fmt.Errorf("add traffic rows: %w", err)
	}
	return nil
}

// trafficDst is an address as the archive keys it: unmapped, canonical.
func trafficDst(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().String()
	}
	return s
}

// TrafficTo implements TrafficArchive.
func (a trafficArchive) TrafficTo(ctx context.Context, dst netip.Addr, from, to int64) ([]TrafficSum, error) {
	const q = `SELECT node, slice, proto, dport, tcp_flags, SUM(packets), SUM(bytes), MIN(minute), MAX(minute)
		FROM traffic WHERE dst = ? AND minute >= ? AND minute < ?
		GROUP BY node, slice, proto, dport, tcp_flags`
	rows, err := a.s.r.QueryContext(ctx, a.s.d.rebind(q), dst.Unmap().String(), from, to)
	if err != nil {
		return nil, fmt.Errorf("query traffic: %w", err)
	}
	defer rows.Close()
	var out []TrafficSum
	for rows.Next() {
		var s TrafficSum
		var proto, port, flags, packets, bytes int64
		if err := rows.Scan(&s.Node, &s.Slice, &proto, &port, &flags, &packets, &bytes, &s.First, &s.Last); err != nil {
			return nil, fmt.Errorf("query traffic: %w", err)
		}
		s.Proto, s.DstPort, s.TCPFlags = uint8(proto), uint16(port), uint8(flags)
		s.Packets, s.Bytes = uint64(packets), uint64(bytes)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query traffic: %w", err)
	}
	return out, nil
}

// PruneTraffic implements TrafficArchive.
func (a trafficArchive) PruneTraffic(ctx context.Context, before, maxRows int64) (int64, error) {
	var total int64
	for {
		n, err := a.pruneChunk(ctx, "minute < ?", before)
		total += n
		if err != nil {
			return total, err
		}
		if n < trafficPruneChunk {
			break
		}
	}
	if maxRows > 0 {
		n, err := a.pruneCount(ctx, maxRows)
		total += n
		if err != nil {
			return total, err
		}
	}
	err := a.s.archiveTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, a.s.d.rebind("DELETE FROM traffic_batches WHERE received < ?"), before-trafficSkew)
		return err
	})
	if err != nil {
		return total, fmt.Errorf("prune traffic batches: %w", err)
	}
	return total, nil
}

// pruneCount deletes the oldest rows (the first received) beyond maxRows.
// Row ids only grow, so max - min + 1 bounds the count from above: what
// stays is never more than maxRows rows.
func (a trafficArchive) pruneCount(ctx context.Context, maxRows int64) (int64, error) {
	var lo, hi sql.NullInt64
	if err := a.s.r.QueryRowContext(ctx, "SELECT MIN(id), MAX(id) FROM traffic").Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("prune traffic: %w", err)
	}
	if !lo.Valid || hi.Int64-lo.Int64+1 <= maxRows {
		return 0, nil
	}
	keepFrom := hi.Int64 - maxRows + 1
	var total int64
	for from := lo.Int64; from < keepFrom; from += trafficPruneChunk {
		n, err := a.pruneChunk(ctx, "id < ?", min(from+trafficPruneChunk, keepFrom))
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// pruneChunk deletes at most trafficPruneChunk rows matching where.
func (a trafficArchive) pruneChunk(ctx context.Context, where string, arg int64) (int64, error) {
	var n int64
	err := a.s.archiveTx(ctx, func(tx *sql.Tx) error {
		q := fmt.Sprintf("DELETE FROM traffic WHERE id IN (SELECT id FROM traffic WHERE %s LIMIT %d)", where, trafficPruneChunk)
		res, err := tx.ExecContext(ctx, a.s.d.rebind(q), arg)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return n, fmt.Errorf("prune traffic: %w", err)
	}
	return n, nil
}

// TrafficRows implements TrafficArchive.
func (a trafficArchive) TrafficRows(ctx context.Context) (int64, error) {
	var n int64
	if err := a.s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM traffic").Scan(&n); err != nil {
		return 0, fmt.Errorf("count traffic: %w", err)
	}
	return n, nil
}

// archiveTxOptions are those of a write transaction of the archives
// (traffic, upgrades), outside Update and the change log: READ COMMITTED
// on PostgreSQL (SQLite's writer serializes anyway).
func (s *db) archiveTxOptions() *sql.TxOptions {
	opts := &sql.TxOptions{}
	if s.d.name() == "postgres" {
		opts.Isolation = sql.LevelReadCommitted
	}
	return opts
}

// archiveTx runs fn in an archive's write transaction, retried on
// conflicts: a concurrent push of the same traffic batch waits on the
// batch ID's unique index and then adds nothing.
func (s *db) archiveTx(ctx context.Context, fn func(*sql.Tx) error) error {
	for attempt := 0; ; attempt++ {
		tx, err := s.w.BeginTx(ctx, s.archiveTxOptions())
		if err != nil {
			return fmt.Errorf("begin transaction: %w", err)
		}
		err = fn(tx)
		if err == nil {
			err = tx.Commit()
		} else {
			tx.Rollback()
		}
		if err == nil || !s.d.retryable(err) || attempt >= 5 {
			return err
		}
	}
}
