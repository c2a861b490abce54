package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/broker/lease"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestGrantAndAccounts: the operator, holding the secret the broker keeps
// in its book directory, grants credit (the credential printed once) and
// lists the accounts in an aligned table; without the secret it is
// refused.
func TestGrantAndAccounts(t *testing.T) {
	dir := t.TempDir()
	book, err := lease.OpenBook(dir, time.Hour, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := lease.LoadOperatorSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := &lease.Server{Book: book, Cap: lease.FixedCapacity{Cap: lease.Capacity{Slivers: 1, CPUShares: 10}},
		Log: testutil.Logger(t), OperatorHash: fmt.Sprintf("%x", sha256.Sum256([]byte(secret)))}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	ctx := context.Background()
	call := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{args[0], "--broker", ts.URL, "--dir", dir}, args[1:]...), strings.NewReader(stdin), &out)
		return out.String(), err
	}
	out, err := call("", "grant", "tess", "--credit", "40")
	cred := regexp.MustCompile(`credential (tess:[0-9a-f]{32})\n`).FindStringSubmatch(out)
	if err != nil || cred == nil || !strings.Contains(out, "credit 40, used 0, left 40") {
		t.Fatalf("grant: %v\n%s", err, out)
	}
	if _, err := book.AccountOf(cred[1]); err != nil {
		t.Errorf("the printed credential: %v", err)
	}
	given := "uma:" + strings.Repeat("5a", 16)
	if out, err := call(given+"\n", "grant", "--credit", "7", "--credential-stdin", "uma"); err != nil || strings.Contains(out, given) {
		t.Errorf("grant with a given credential: %v\n%s", err, out)
	}
	outFile := filepath.Join(t.TempDir(), "cred")
	if out, err := call("", "grant", "vic", "--credit", "1", "--out", outFile); err != nil || regexp.MustCompile(`vic:[0-9a-f]`).MatchString(out) {
		t.Errorf("grant --out: %v\n%s", err, out)
	}
	if st, err := os.Stat(outFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("--out file: %v", err)
	}
	out, err = call("", "accounts")
	want := regexp.MustCompile(`(?m)^ACCOUNT +CREDIT +USED +LEFT +LIVE_LEASES +CREATED \(UTC\)\ntess +40 +0 +40 +0 +\S+ \S+\numa +7 +0 +7 +0 +\S+ \S+\nvic +1 +0 +1 +0 `)
	if err != nil || !want.MatchString(out) {
		t.Errorf("accounts: %v\n%s", err, out)
	}
	cols := func(line string) int { return strings.Index(line, "CREDIT") }
	if lines := strings.Split(out, "\n"); cols(lines[0]) != strings.Index(lines[1], "40") {
		t.Errorf("accounts: columns not aligned:\n%s", out)
	}
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, lease.OperatorFile), []byte(strings.Repeat("0", 32)), 0o600)
	if out, err := call("", "grant", "eve", "--credit", "100", "--dir", other); err == nil || !strings.Contains(err.Error(), "operator secret") {
		t.Errorf("grant with a wrong operator secret: %v\n%s", err, out)
	}
	t.Setenv(operatorEnv, secret)
	if out, err := call("", "accounts", "--dir", other+"/none"); err != nil {
		t.Errorf("accounts with $%s: %v\n%s", operatorEnv, err, out)
	}
}
