package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/central/centraltest"
)

// tlsCentral runs central as `orbis central` does, over HTTPS with a CA
// of its own, with the CLI's credentials file in a temporary directory;
// it returns the URL, the admin's password, the CA file and the CA's
// hash.
func tlsCentral(t *testing.T) (url, password, caFile, caHash string) {
	t.Helper()
	c := centraltest.StartTLS(t, adminEmail)
	t.Setenv("ORBIS_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("ORBIS_CENTRAL", "")
	t.Setenv("ORBIS_TOKEN", "")
	return c.URL, c.Admin.Password, c.CAFile, c.CAHash
}

// TestLoginTLS: `orbis login` verifies central by --ca-hash or --ca, and
// refuses without either unless --tofu, which prints the fingerprint it
// took; the CA saved with the token pins central for later verbs, and the
// node token printed carries the CA's hash.
func TestLoginTLS(t *testing.T) {
	url, pw, caFile, hash := tlsCentral(t)
	_, _, otherCA, otherHash := tlsCentral(t)
	t.Setenv("ORBIS_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))

	wantFail(t, "nothing to verify", "login", "--central", url, "--user", adminEmail, "--password-stdin")
	if _, err := os.Stat(os.Getenv("ORBIS_CONFIG")); err == nil {
		t.Fatal("a refused login saved credentials")
	}
	if _, err := orbisErr(t, pw+"\n", "login", "--central", url, "--user", adminEmail, "--ca-hash", otherHash); err == nil || !strings.Contains(err.Error(), "not the expected") {
		t.Fatalf("login pinning another CA's hash: %v, want a refusal", err)
	}
	if _, err := orbisErr(t, pw+"\n", "login", "--central", url, "--user", adminEmail, "--ca", otherCA); err == nil {
		t.Fatal("login with another CA's file succeeded")
	}

	orbis(t, pw+"\n", "login", "--central", url, "--user", adminEmail, "--ca-hash", hash)
	orbis(t, "", "site", "create", "tls", "--name", "TLS site", "--abbrev", "TLS", "--enabled")
	out := orbis(t, "", "nodes", "create", "n1.tls.test", "--site", "tls")
	if !strings.Contains(out, "."+strings.TrimPrefix(hash, "sha256:")+"\n") {
		t.Errorf("the node token does not carry central's CA hash %s:\n%s", hash, out)
	}
	orbis(t, "", "logout")

	orbis(t, pw+"\n", "login", "--central", url, "--user", adminEmail, "--ca", caFile)
	orbis(t, "", "site", "list")
	orbis(t, "", "logout")

	out = orbis(t, pw+"\n", "login", "--central", url, "--user", adminEmail, "--tofu")
	contains(t, out, "trusted central's CA on first use: "+hash)
	orbis(t, "", "site", "list")
	// The saved CA is pinned: another central with another CA at the
	// saved URL's place would be refused.
	var cred map[string]any
	data, _ := os.ReadFile(os.Getenv("ORBIS_CONFIG"))
	if err := json.Unmarshal(data, &cred); err != nil || !strings.Contains(cred["ca"].(string), "BEGIN CERTIFICATE") {
		t.Fatalf("saved credentials lack the CA: %s (%v)", data, err)
	}
	wantFail(t, "not the expected", "site", "list", "--ca-hash", otherHash)
}

// TestLoginPlainHTTP: plain HTTP to a central that is not loopback is
// refused before anything is sent.
func TestLoginPlainHTTP(t *testing.T) {
	t.Setenv("ORBIS_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	wantFail(t, "--insecure-http", "login", "--central", "http://192.0.2.1:8780", "--user", adminEmail, "--password-stdin")
	wantFail(t, "--insecure-http", "site", "list", "--central", "http://192.0.2.1:8780", "--token", "x")
}
