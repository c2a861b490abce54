package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// errReadOnly is returned by a mutating method called in a View.
var errReadOnly = errors.New("store: change in a read-only transaction")

// tx implements Tx over one database/sql transaction.
type tx struct {
	ctx   context.Context
	tx    *sql.Tx
	d     dialect
	actor string
	write bool
	now   int64 // Unix seconds at the start of the transaction
}

// writable fails in a View.
func (t *tx) writable() error {
	if !t.write {
		return errReadOnly
	}
	return nil
}

// exec runs a statement written with ? placeholders.
func (t *tx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.d.rebind(query), args...)
}

// queryRow runs a one-row query written with ? placeholders.
func (t *tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.d.rebind(query), args...)
}

// execCount runs a statement and returns the number of rows it changed.
func (t *tx) execCount(query string, args ...any) (int64, error) {
	res, err := t.exec(query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// insert adds a row and returns its new primary key; if a unique
// constraint holds the row back, it returns conflict.
func (t *tx) insert(tableName, pk string, cols []string, vals []any, conflict error) (int64, error) {
	q := "INSERT INTO " + tableName + " (" + strings.Join(cols, ", ") + ") VALUES (" +
		placeholders("?", len(cols)) + ") ON CONFLICT DO NOTHING RETURNING " + pk
	var id int64
	err := t.queryRow(q, vals...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, conflict
	}
	if err != nil {
		return 0, fmt.Errorf("insert %s: %w", tableName, err)
	}
	return id, nil
}

// update writes cols of the row whose pk is id; ErrNotFound if none. A
// unique violation becomes conflict.
func (t *tx) update(tableName, pk string, id int64, cols []string, vals []any, conflict error) error {
	q := "UPDATE " + tableName + " SET " + strings.Join(cols, " = ?, ") + " = ? WHERE " + pk + " = ?"
	n, err := t.execCount(q, append(vals, id)...)
	if err != nil && conflict != nil && t.d.uniqueViolation(err) {
		return conflict
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", tableName, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %d: %w", strings.TrimSuffix(tableName, "s"), id, ErrNotFound)
	}
	return nil
}

// exists checks that a row with that primary key is there.
func (t *tx) exists(tableName, pk string, id int64) error {
	var one int
	err := t.queryRow("SELECT 1 FROM "+tableName+" WHERE "+pk+" = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %d: %w", strings.TrimSuffix(tableName, "s"), id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("find %s %d: %w", tableName, id, err)
	}
	return nil
}

// taken reports whether another row than id has col equal to v (case-
// insensitively if fold).
func (t *tx) taken(tableName, pk, col string, fold bool, v string, id int64) (bool, error) {
	q := "SELECT 1 FROM " + tableName + " WHERE " + col + " = ? AND " + pk + " <> ?"
	if fold {
		q = "SELECT 1 FROM " + tableName + " WHERE lower(" + col + ") = lower(?) AND " + pk + " <> ?"
	}
	var one int
	err := t.queryRow(q, v, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check unique %s: %w", col, err)
	}
	return true, nil
}

// event appends one entry to the change log. detail is marshalled to
// JSON; callers never put secrets in it.
func (t *tx) event(action, objectType string, objectID int64, detail any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("log %s: %w", action, err)
	}
	_, err = t.exec("INSERT INTO events (time, actor, action, object_type, object_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
		t.now, t.actor, action, objectType, objectID, string(b))
	if err != nil {
		return fmt.Errorf("log %s: %w", action, err)
	}
	return nil
}

// fields is a record as a JSON object, without the named keys.
func fields(v any, skip ...string) map[string]any {
	b, _ := json.Marshal(v)
	m := map[string]any{}
	json.Unmarshal(b, &m)
	for _, k := range skip {
		delete(m, k)
	}
	return m
}

// changed is the fields of next that differ from prev, without skip.
func changed(prev, next any, skip ...string) map[string]any {
	a, b := fields(prev, skip...), fields(next, skip...)
	for k, v := range b {
		if reflect.DeepEqual(a[k], v) {
			delete(b, k)
		}
	}
	return b
}

// idList parses a comma-separated list of ids from listAgg, sorted.
func idList(s sql.NullString) []int64 {
	ids := []int64{}
	if !s.Valid || s.String == "" {
		return ids
	}
	for _, f := range strings.Split(s.String, ",") {
		if n, err := strconv.ParseInt(f, 10, 64); err == nil {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids
}

// uniqueIDs returns ids sorted, without duplicates.
func uniqueIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// nullID maps an id of 0 to NULL.
func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// scanAll runs a query and scans every row with scan.
func scanAll[T any](t *tx, query string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := t.tx.QueryContext(t.ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// list runs a Query against tb, selecting cols and scanning with scan.
func list[T any](t *tx, tb *table, cols string, q Query, scan func(*sql.Rows) (T, error)) ([]T, error) {
	query, args, err := tb.selectSQL(t.d, cols, q)
	if err != nil {
		return nil, err
	}
	out, err := scanAll(t, query, args, scan)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", tb.kind, err)
	}
	return out, nil
}

// one runs list for a primary key and returns the record or ErrNotFound.
func one[T any](t *tx, tb *table, cols, pkField string, id int64, scan func(*sql.Rows) (T, error)) (T, error) {
	var zero T
	l, err := list(t, tb, cols, ByID(pkField, id), scan)
	if err != nil {
		return zero, err
	}
	if len(l) == 0 {
		return zero, fmt.Errorf("%s %d: %w", tb.kind, id, ErrNotFound)
	}
	return l[0], nil
}
