package store

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is what differs between SQLite and PostgreSQL. Every statement
// is written once, with ? placeholders, and rebound per dialect.
type dialect interface {
	name() string
	// rebind turns ? placeholders into the dialect's.
	rebind(query string) string
	// listAgg is an expression joining col of the rows of from matching
	// where into one comma-separated string (NULL if none).
	listAgg(col, from, where string) string
	// limit renders LIMIT/OFFSET clauses for the bound limit and offset.
	limit(limit, offset int) string
	// like is the case-insensitive pattern operator.
	like() string
	txOptions(write bool) *sql.TxOptions
	// retryable reports a serialization failure or deadlock.
	retryable(err error) bool
	// uniqueViolation reports a unique constraint violation.
	uniqueViolation(err error) bool
	// notifyNodes is the statement that tells other processes, at
	// commit, that node versions changed ("": they poll, see WatchNodes).
	notifyNodes() string
}

// sqliteDialect is modernc.org/sqlite.
type sqliteDialect struct{}

func (sqliteDialect) name() string             { return "sqlite" }
func (sqliteDialect) rebind(q string) string   { return q }
func (sqliteDialect) like() string             { return "LIKE" }
func (sqliteDialect) notifyNodes() string      { return "" }
func (sqliteDialect) retryable(err error) bool { return sqliteCode(err)&0xff == sqlite3.SQLITE_BUSY }

func (sqliteDialect) listAgg(col, from, where string) string {
	return "(SELECT group_concat(" + col + ") FROM " + from + " WHERE " + where + ")"
}

func (sqliteDialect) limit(limit, offset int) string {
	s := ""
	if limit > 0 {
		s = " LIMIT " + strconv.Itoa(limit)
	} else if offset > 0 {
		s = " LIMIT -1"
	}
	if offset > 0 {
		s += " OFFSET " + strconv.Itoa(offset)
	}
	return s
}

func (sqliteDialect) txOptions(write bool) *sql.TxOptions {
	// The writer's DSN makes every transaction BEGIN IMMEDIATE; readers
	// run BEGIN (deferred) on query_only connections.
	return &sql.TxOptions{ReadOnly: !write}
}

func (sqliteDialect) uniqueViolation(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

// postgresDialect is PostgreSQL through pgx.
type postgresDialect struct{}

func (postgresDialect) name() string { return "postgres" }
func (postgresDialect) like() string { return "ILIKE" }

func (postgresDialect) notifyNodes() string {
	return "SELECT pg_notify('" + nodesChannel + "', '')"
}

func (postgresDialect) rebind(q string) string {
	var b strings.Builder
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
		case c == '?' && !quoted:
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func (postgresDialect) listAgg(col, from, where string) string {
	return "(SELECT string_agg(" + col + "::text, ',') FROM " + from + " WHERE " + where + ")"
}

func (postgresDialect) limit(limit, offset int) string {
	s := ""
	if limit > 0 {
		s = " LIMIT " + strconv.Itoa(limit)
	}
	if offset > 0 {
		s += " OFFSET " + strconv.Itoa(offset)
	}
	return s
}

func (postgresDialect) txOptions(write bool) *sql.TxOptions {
	if write {
		return &sql.TxOptions{Isolation: sql.LevelSerializable}
	}
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

func (postgresDialect) retryable(err error) bool {
	c := pgCode(err)
	return c == "40001" || c == "40P01"
}

func (postgresDialect) uniqueViolation(err error) bool { return pgCode(err) == "23505" }

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
