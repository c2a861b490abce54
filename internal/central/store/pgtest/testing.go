package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable that points tests at an existing
// server instead of a throwaway one.
const EnvURL = "ORBIS_TEST_POSTGRES"

var (
	// mu guards the following.
	mu        sync.Mutex
	shared    *Server
	sharedErr error
)

// Run runs a package's tests and then stops the throwaway server, if one
// was started. Call it from TestMain: os.Exit(pgtest.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stop server:", err)
		}
		shared = nil
	}
	return code
}

// DB returns the URL of a new, empty database for this test, dropped when
// the test ends. Without PostgreSQL installed it fails the test under CI
// (CI=true) and skips it elsewhere.
func DB(t testing.TB) string {
	t.Helper()
	base, err := baseURL()
	if errors.Is(err, ErrNoPostgres) {
		if os.Getenv("CI") != "" {
			t.Fatalf("pgtest: %v (CI must install it)", err)
		}
		t.Skipf("pgtest: %v; or set %s=postgres://...", err, EnvURL)
	}
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := "orbistest_" + randomHex()
	if err := admin(base, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := admin(base, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	u, err := withDB(base, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// baseURL is the administrative URL of the server tests use, starting the
// throwaway one the first time.
func baseURL() (string, error) {
	if u := os.Getenv(EnvURL); u != "" {
		return u, nil
	}
	mu.Lock()
	defer mu.Unlock()
	if shared == nil && sharedErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared, sharedErr = Start(ctx)
	}
	if sharedErr != nil {
		return "", sharedErr
	}
	return shared.URL("postgres"), nil
}

// admin runs one statement on the server's administrative database.
func admin(u, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("connect %s: %w", u, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
