package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"

	"github.com/orbisproject/orbis/internal/central/store"
	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	os.Exit(pgtest.Run(m))
}

// backend is one Store implementation for the shared suite: where a fresh
// store lives, and how to reach its database directly.
type backend struct {
	name string
	// fresh returns the dsn and data directory of a new, empty store.
	fresh func(t testing.TB) (dsn, dataDir string)
	// raw opens the database under a store without the store.
	raw func(dsn, dataDir string) (*sql.DB, error)
}

var sqliteBackend = backend{
	name:  "sqlite",
	fresh: func(t testing.TB) (string, string) { return "", t.TempDir() },
	raw: func(_, dir string) (*sql.DB, error) {
		return sql.Open("sqlite", filepath.Join(dir, "central.db"))
	},
}

var postgresBackend = backend{
	name:  "postgres",
	fresh: func(t testing.TB) (string, string) { return pgtest.DB(t), "" },
	raw:   func(dsn, _ string) (*sql.DB, error) { return sql.Open("pgx", dsn) },
}

func TestSQLite(t *testing.T)   { runSuite(t, sqliteBackend) }
func TestPostgres(t *testing.T) { runSuite(t, postgresBackend) }

// open opens the store at dsn/dataDir, closed when the test ends.
func open(t testing.TB, dsn, dataDir string) store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn, dataDir, testutil.Logger(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a fresh store of backend b.
func (b backend) newStore(t testing.TB) store.Store {
	dsn, dir := b.fresh(t)
	return open(t, dsn, dir)
}

// runSuite runs every store test against backend b.
func runSuite(t *testing.T, b backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, backend)
	}{
		{"Sites", testSites},
		{"Persons", testPersons},
		{"Nodes", testNodes},
		{"Slices", testSlices},
		{"SliceTagsAndLeases", testSliceTagsAndLeases},
		{"NotFound", testNotFound},
		{"Filters", testFilters},
		{"InvalidFields", testInvalidFields},
		{"Uniques", testUniques},
		{"Cascades", testCascades},
		{"SessionsAndTokens", testSessionsAndTokens},
		{"RevokePerson", testRevokePerson},
		{"NodeTokens", testNodeTokens},
		{"NodeVersions", testNodeVersions},
		{"WatchNodes", testWatchNodes},
		{"SliverReports", testSliverReports},
		{"NodeSummaries", testNodeSummaries},
		{"Events", testEvents},
		{"Verbatim", testVerbatim},
		{"ViewIsReadOnly", testViewIsReadOnly},
		{"RollbackOnError", testRollbackOnError},
		{"Migrations", testMigrations},
		{"Concurrency", testConcurrency},
		{"Crash", testCrash},
		{"Traffic", testTraffic},
		{"KeyBlacklist", testKeyBlacklist},
		{"Interfaces", testInterfaces},
		{"PCUs", testPCUs},
		{"PLCAPIRecords", testPLCAPIRecords},
		{"Addresses", testAddresses},
		{"TagTypes", testTagTypes},
		{"NodeTags", testNodeTags},
		{"SiteTags", testSiteTags},
		{"PersonTags", testPersonTags},
		{"UpgradeKey", testUpgradeKey},
		{"UpgradeBuilds", testUpgradeBuilds},
		{"InitScripts", testInitScripts},
		{"ConfFiles", testConfFiles},
		{"UpdateLease", testUpdateLease},
		{"PrimarySite", testPrimarySite},
		{"SessionList", testSessionList},
		{"IlinksAndScopes", testIlinksAndScopes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, b) })
	}
}
