package cli

import (
	"bytes"
	"context"
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

// leaseCred is the buyer's credential on the test brokers.
const leaseCred = "tess:0123456789abcdef0123456789abcdef"

// leaseBroker runs a broker API on a book in a temporary directory, with
// a fixed capacity and one-hour slots, where leaseCred holds credit
// share-slots.
func leaseBroker(t *testing.T, c lease.Capacity, credit int64) string {
	t.Helper()
	b, err := lease.OpenBook(t.TempDir(), time.Hour, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Grant(lease.GrantRequest{Account: "tess", Credit: credit, Credential: leaseCred}, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := &lease.Server{Book: b, Cap: lease.FixedCapacity{Cap: c}, Log: testutil.Logger(t)}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

func runLeaseCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(""), &out, &out)
	return out.String(), err
}

// TestLeaseVerbs reserves on two brokers, lists, refuses all or nothing
// when one broker is full, and cancels by slice.
func TestLeaseVerbs(t *testing.T) {
	a := leaseBroker(t, lease.Capacity{Slivers: 1, CPUShares: 100}, 1000)
	b := leaseBroker(t, lease.Capacity{Slivers: 2, CPUShares: 100}, 1000)
	key := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(key, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOrbis tess@orbis.test\n"), 0o644)
	brokers := a + "," + b
	t.Setenv(leaseCredentialEnv, leaseCred)
	t.Setenv(leaseTokenEnv, "")

	out, err := runLeaseCLI(t, "lease", "reserve", "--broker", brokers, "--slice", "site_one", "--key", key, "--start", "next", "--slots", "2", "--cpu-shares", "30")
	if err != nil {
		t.Fatalf("reserve: %v\n%s", err, out)
	}
	tok := regexp.MustCompile(`token ([0-9a-f]{32})`).FindStringSubmatch(out)
	if tok == nil || strings.Count(out, "site_one") < 3 || !strings.Contains(out, "save it in a file only you can read (mode 0600)") {
		t.Fatalf("reserve's output lacks a new token with how to keep it, or a row per broker:\n%s", out)
	}
	// The first broker's only sliver is taken in that window: all or
	// nothing cancels the lease the second granted.
	out, err = runLeaseCLI(t, "lease", "reserve", "--broker", brokers, "--slice", "site_two", "--key", key, "--start", "next")
	if err == nil || !strings.Contains(out, "0/1 slivers") && !strings.Contains(out, "1 of 1 slivers leased") || !strings.Contains(out, "cancelled") {
		t.Errorf("reserve where one broker is full: %v\n%s", err, out)
	}
	out, err = runLeaseCLI(t, "lease", "list", "--broker", brokers)
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile(`(?m)^\S+ +[0-9a-f]{16} +site_(one|two) .*(reserved|cancelled)`).FindAllString(out, -1)
	if len(rows) != 3 || !regexp.MustCompile(`site_two .* cancelled `).MatchString(out) {
		t.Errorf("list: want two reserved leases of site_one and the cancelled one of site_two:\n%s", out)
	}
	out, err = runLeaseCLI(t, "lease", "schedule", "--broker", a, "--start", "next", "--slots", "3")
	if err != nil || !strings.Contains(out, "1/1") || !strings.Contains(out, "30/100") || !strings.Contains(out, "0/1") {
		t.Errorf("schedule: %v\n%s", err, out)
	}
	// The token comes from a file or the environment, never an argument.
	if out, err = runLeaseCLI(t, "lease", "cancel", "--broker", brokers, "--slice", "site_one", "--token", tok[1]); err == nil || !strings.Contains(err.Error(), "visible to other users") {
		t.Errorf("cancel with --token: want it refused as visible to others: %v\n%s", err, out)
	}
	if out, err = runLeaseCLI(t, "lease", "cancel", "--broker", brokers, "--slice", "site_one"); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("cancel without a token: %v\n%s", err, out)
	}
	t.Setenv(leaseTokenEnv, "00000000000000000000000000000000")
	if out, err = runLeaseCLI(t, "lease", "cancel", "--broker", brokers, "--slice", "site_one"); err == nil {
		t.Errorf("cancel with a wrong token: %s", out)
	}
	t.Setenv(leaseTokenEnv, tok[1])
	out, err = runLeaseCLI(t, "lease", "cancel", "--broker", brokers, "--slice", "site_one")
	if err != nil || strings.Count(out, "cancelled") != 2 {
		t.Errorf("cancel with $%s: %v\n%s", leaseTokenEnv, err, out)
	}
	if _, err := runLeaseCLI(t, "lease", "reserve", "--slice", "x"); err == nil {
		t.Errorf("reserve without a broker")
	}
	if _, err := runLeaseCLI(t, "lease", "reserve", "--broker", brokers, "--slice", "site_../x", "--key", key); err == nil || !strings.Contains(err.Error(), "not a slice name") {
		t.Errorf("reserve for a malformed slice name: %v", err)
	}
}

// TestLeaseCredit: reserve needs a credential, from a file or the
// environment; a lease beyond the credit is refused; account shows what
// is left on each broker, and a cancel before the window refunds.
func TestLeaseCredit(t *testing.T) {
	a := leaseBroker(t, lease.Capacity{Slivers: 4, CPUShares: 10}, 10)
	key := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(key, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOrbis tess@orbis.test\n"), 0o644)
	t.Setenv(leaseCredentialEnv, "")
	t.Setenv(leaseTokenEnv, "")
	reserve := []string{"lease", "reserve", "--broker", a, "--key", key, "--start", "next", "--cpu-shares", "3", "--slots", "2"}

	if out, err := runLeaseCLI(t, append(reserve, "--slice", "site_one")...); err == nil || !strings.Contains(out+err.Error(), "no credential") {
		t.Errorf("reserve without a credential: %v\n%s", err, out)
	}
	cred := filepath.Join(t.TempDir(), "cred")
	os.WriteFile(cred, []byte(leaseCred+"\n"), 0o600)
	out, err := runLeaseCLI(t, append(reserve, "--slice", "site_one", "--credential-file", cred)...)
	if err != nil || !strings.Contains(out, "6 share-slots charged, 4 left") {
		t.Fatalf("reserve with --credential-file: %v\n%s", err, out)
	}
	tok := regexp.MustCompile(`token ([0-9a-f]{32})`).FindStringSubmatch(out)
	t.Setenv(leaseCredentialEnv, leaseCred)
	out, err = runLeaseCLI(t, append(reserve, "--slice", "site_two")...)
	if err == nil || !strings.Contains(out, "costs 6 share-slots") || !strings.Contains(out, "4 left of 10") {
		t.Errorf("reserve beyond the credit: %v\n%s", err, out)
	}
	out, err = runLeaseCLI(t, "lease", "account", "--broker", a)
	if err != nil || !regexp.MustCompile(`(?m)^BROKER +ACCOUNT +CREDIT +USED +LEFT +LIVE_LEASES\n\S+ +tess +10 +6 +4 +1 *$`).MatchString(out) {
		t.Errorf("account: %v\n%s", err, out)
	}
	t.Setenv(leaseTokenEnv, tok[1])
	if out, err := runLeaseCLI(t, "lease", "cancel", "--broker", a, "--slice", "site_one"); err != nil {
		t.Fatalf("cancel: %v\n%s", err, out)
	}
	if out, _ := runLeaseCLI(t, "lease", "account", "--broker", a); !regexp.MustCompile(`tess +10 +0 +10 +0`).MatchString(out) {
		t.Errorf("account after a cancel before the window: want the credit back:\n%s", out)
	}
	t.Setenv(leaseCredentialEnv, "tess:ffffffffffffffffffffffffffffffff")
	if out, err := runLeaseCLI(t, append(reserve, "--slice", "site_one")...); err == nil || !strings.Contains(out, "wrong secret") {
		t.Errorf("reserve with a wrong credential: %v\n%s", err, out)
	}
}

// TestLeaseTokenFile: reserve makes a new token file of mode 0600 and
// uses it again; a token of another is refused; cancel reads the file;
// a token file others may read is warned about.
func TestLeaseTokenFile(t *testing.T) {
	a := leaseBroker(t, lease.Capacity{Slivers: 4, CPUShares: 10}, 100)
	key := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(key, []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOrbis tess@orbis.test\n"), 0o644)
	t.Setenv(leaseCredentialEnv, leaseCred)
	t.Setenv(leaseTokenEnv, "")
	tokFile := filepath.Join(t.TempDir(), "site_one.token")
	reserve := []string{"lease", "reserve", "--broker", a, "--slice", "site_one", "--key", key, "--token-file", tokFile}

	out, err := runLeaseCLI(t, append(reserve, "--start", "next")...)
	if err != nil || !strings.Contains(out, "new token saved in "+tokFile+" (mode 0600)") {
		t.Fatalf("reserve with a new --token-file: %v\n%s", err, out)
	}
	fi, err := os.Stat(tokFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", fi, err)
	}
	data, _ := os.ReadFile(tokFile)
	tok := strings.TrimSpace(string(data))
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(tok) || strings.Contains(out, tok) {
		t.Errorf("token file holds %q; want a token that the output does not show:\n%s", data, out)
	}
	// Leasing the name again needs its token: the file's is accepted,
	// another refused.
	if out, err := runLeaseCLI(t, append(reserve, "--start", "+3h")...); err != nil || !strings.Contains(out, "the token in "+tokFile) {
		t.Errorf("reserve again with the token file: %v\n%s", err, out)
	}
	t.Setenv(leaseTokenEnv, "11111111111111111111111111111111")
	if out, err := runLeaseCLI(t, "lease", "reserve", "--broker", a, "--slice", "site_one", "--key", key, "--start", "+5h"); err == nil || !strings.Contains(out, "token") {
		t.Errorf("reserve site_one with another token: want it refused for its token: %v\n%s", err, out)
	}
	os.Chmod(tokFile, 0o644)
	out, err = runLeaseCLI(t, "lease", "cancel", "--broker", a, "--slice", "site_one", "--token-file", tokFile)
	if err != nil || strings.Count(out, "cancelled") != 2 || !strings.Contains(out, "readable by others") {
		t.Errorf("cancel with a token file of mode 0644: want both leases cancelled and a warning: %v\n%s", err, out)
	}
	if out, err := runLeaseCLI(t, "lease", "cancel", "--broker", a, "--slice", "site_one", "--token-file", tokFile+".missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("cancel with a missing token file: %v\n%s", err, out)
	}
}
