// Package store keeps central's records: sites, persons and their
// passwords and roles, keys, nodes and their secrets, slices, slice
// members, slice-node membership, slice tags, leases, sessions and API
// tokens, and an append-only log of every change. SQLite (modernc.org/sqlite,
// no cgo) and PostgreSQL (pgx) sit behind one Store interface and pass one
// shared test suite.
package store
