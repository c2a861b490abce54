package cli_test

// The central verbs against a real central in this process: the JSON API
// over plc.Service on SQLite in t.TempDir(), with nodes speaking the real
// node channel. An external test package, so that central may one day
// register verbs of its own without an import cycle.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/testutil"
)

const (
	adminEmail = "admin@example.org"
	adminPW    = "admin-password"
)

// realCentral starts a central and returns its URL, with the CLI's
// credentials file in a temporary directory.
func realCentral(t *testing.T) string {
	t.Helper()
	ctx := testutil.Context(t)
	c, err := central.Open(ctx, central.Config{DataDir: t.TempDir(), Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Service.Bootstrap(ctx, adminEmail, adminPW); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	t.Setenv("ORBIS_CONFIG", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("ORBIS_CENTRAL", "")
	t.Setenv("ORBIS_TOKEN", "")
	return srv.URL
}

// orbis runs the CLI and returns its standard output, failing the test if
// the command fails.
func orbis(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := orbisErr(t, stdin, args...)
	if err != nil {
		t.Fatalf("orbis %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// orbisErr runs the CLI and returns its output and error.
func orbisErr(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := cli.Run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return out.String(), err
}

// wantFail runs a command that must fail (exit status 1, or 2 for a
// usage error) with a message containing want.
func wantFail(t *testing.T, want string, args ...string) {
	t.Helper()
	_, err := orbisErr(t, "", args...)
	if code, _ := cli.ExitCode(err); err == nil || code == 0 || !strings.Contains(err.Error(), want) {
		t.Errorf("orbis %s: exit %d, %v; want a failure saying %q", strings.Join(args, " "), code, err, want)
	}
}

func contains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func login(t *testing.T, url, user, pw string) {
	t.Helper()
	out := orbis(t, pw+"\n", "login", "--central", url, "--user", user)
	contains(t, out, "logged in to "+url+" as "+user)
}

func TestLoginReal(t *testing.T) {
	url := realCentral(t)
	if _, err := orbisErr(t, "wrong\n", "login", "--central", url, "--user", adminEmail); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if _, err := os.Stat(os.Getenv("ORBIS_CONFIG")); err == nil {
		t.Error("a failed login saved credentials")
	}
	login(t, url, adminEmail, adminPW)
	fi, err := os.Stat(os.Getenv("ORBIS_CONFIG"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	var cred map[string]string
	data, _ := os.ReadFile(os.Getenv("ORBIS_CONFIG"))
	if err := json.Unmarshal(data, &cred); err != nil || cred["central"] != url || cred["user"] != adminEmail || len(cred["token"]) < 16 {
		t.Errorf("credentials %s: %v", data, err)
	}
	orbis(t, "", "site", "list") // the saved token works
	// A second login needs neither --central nor --user.
	orbis(t, adminPW+"\n", "login", "--password-stdin")
	// A bad token is refused with the way out.
	wantFail(t, "run `orbis login` again", "site", "create", "x", "--name", "X", "--token", "bogus")
	orbis(t, "", "logout")
	wantFail(t, "run `orbis login` first", "site", "create", "x", "--name", "X")
}

// TestLogoutRevokesReal: a copy of the token taken before `orbis logout`
// is refused after it, and logging out again (the token gone) succeeds.
func TestLogoutRevokesReal(t *testing.T) {
	url := realCentral(t)
	login(t, url, adminEmail, adminPW)
	var cred map[string]string
	data, _ := os.ReadFile(os.Getenv("ORBIS_CONFIG"))
	if err := json.Unmarshal(data, &cred); err != nil {
		t.Fatal(err)
	}
	stolen := cred["token"]
	orbis(t, "", "site", "list", "--central", url, "--token", stolen)
	orbis(t, "", "logout")
	wantFail(t, "revoked", "site", "list", "--central", url, "--token", stolen)
	err := api.NewCentralClient(url, stolen).Call(testutil.Context(t), "GetSites", nil)
	if ce, ok := errors.AsType[*api.CentralError](err); !ok || ce.Status != 401 || ce.Code != api.FaultAuth {
		t.Fatalf("revoked token: %v, want 401 fault 103", err)
	}
	orbis(t, "", "logout") // nothing saved: nothing to revoke
	login(t, url, adminEmail, adminPW)
	if err := os.WriteFile(os.Getenv("ORBIS_CONFIG"), []byte(`{"central": "http://127.0.0.1:1", "token": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	wantFail(t, "the credentials file is kept", "logout")
	if _, err := os.Stat(os.Getenv("ORBIS_CONFIG")); err != nil {
		t.Errorf("credentials removed though central could not revoke the token: %v", err)
	}
	orbis(t, "", "logout", "--local")
}

func TestSitePersonKeyReal(t *testing.T) {
	url := realCentral(t)
	login(t, url, adminEmail, adminPW)

	contains(t, orbis(t, "", "site", "create", "mit", "--name", "MIT", "--max-slices", "5", "--enabled", "--latitude", "42.36"), "created site mit (id ")
	wantFail(t, "mit", "site", "create", "mit", "--name", "Again")
	out := orbis(t, "", "site", "list")
	if !regexp.MustCompile(`(?m)^ID +LOGIN_BASE +NAME +ENABLED +NODES +SLICES +PERSONS +SHARES\n\d+ +mit +MIT +yes +0 +0/5 +0 +\d+$`).MatchString(out) {
		t.Errorf("site list:\n%s", out)
	}
	var sites []api.Site
	if err := json.Unmarshal([]byte(orbis(t, "", "site", "list", "--json")), &sites); err != nil || len(sites) != 1 || sites[0].MaxSlices != 5 {
		t.Errorf("site list --json: %+v, %v", sites, err)
	}
	orbis(t, "", "site", "update", "mit", "--name", "MIT CSAIL")
	contains(t, orbis(t, "", "site", "show", "mit"), "name:             MIT CSAIL\n", "latitude:         42.36\n")
	wantFail(t, `no site "harvard"`, "site", "show", "harvard")

	// A PI with a password, a role and a site, then a user role.
	contains(t, orbis(t, "alice-password\n", "person", "create", "alice@mit.edu", "--first", "Alice", "--last", "Smith",
		"--site", "mit", "--role", "pi", "--enabled", "--password-stdin"), "created person alice@mit.edu")
	orbis(t, "", "person", "add-role", "alice@mit.edu", "user")
	out = orbis(t, "", "person", "list", "--site", "mit")
	if !regexp.MustCompile(`(?m)^\d+ +alice@mit.edu +Alice Smith +(pi,user|user,pi) +mit +yes$`).MatchString(out) {
		t.Errorf("person list --site mit:\n%s", out)
	}
	orbis(t, "", "person", "create", "bob@mit.edu", "--first", "Bob", "--last", "Jones")
	orbis(t, "", "person", "add-to-site", "bob@mit.edu", "mit")
	out = orbis(t, "", "person", "show", "bob@mit.edu")
	if !regexp.MustCompile(`(?m)^sites: +mit$`).MatchString(out) || !regexp.MustCompile(`(?m)^enabled: +false$`).MatchString(out) {
		t.Errorf("person show bob@mit.edu:\n%s", out)
	}
	wantFail(t, "unknown role", "person", "add-role", "bob@mit.edu", "king")

	// Keys: a valid one is added, a malformed one refused before sending.
	pub, _, _ := ed25519.GenerateKey(nil)
	sk, _ := ssh.NewPublicKey(pub)
	keyFile := filepath.Join(t.TempDir(), "id.pub")
	os.WriteFile(keyFile, append(bytes.TrimSpace(ssh.MarshalAuthorizedKey(sk)), " alice@laptop\n"...), 0o644)
	contains(t, orbis(t, "", "key", "add", "alice@mit.edu", keyFile), "added key ")
	contains(t, orbis(t, string(ssh.MarshalAuthorizedKey(sk)), "key", "add", "bob@mit.edu", "-"), "added key ")
	out = orbis(t, "", "key", "list", "alice@mit.edu")
	if !regexp.MustCompile(`(?m)^\d+ +alice@mit.edu +ssh +ssh-ed25519 \.\.\.\S{12} alice@laptop$`).MatchString(out) || strings.Contains(out, "bob") {
		t.Errorf("key list alice@mit.edu:\n%s", out)
	}
	os.WriteFile(keyFile, []byte("ssh-ed25519 garbage\n"), 0o644)
	wantFail(t, "line 1: not an SSH public key", "key", "add", "alice@mit.edu", keyFile)
	var keys []api.Key
	json.Unmarshal([]byte(orbis(t, "", "key", "list", "--json")), &keys)
	if len(keys) != 2 {
		t.Fatalf("keys: %+v", keys)
	}
	orbis(t, "", "key", "delete", itoa(keys[1].KeyID))
	wantFail(t, "no key", "key", "show", itoa(keys[1].KeyID))

	// Alice, a PI, may not create sites; Bob, not enabled, cannot log in.
	login(t, url, "alice@mit.edu", "alice-password")
	wantFail(t, "", "site", "create", "cmu", "--name", "CMU")
	login(t, url, adminEmail, adminPW)
	orbis(t, "", "person", "delete", "bob@mit.edu")
	wantFail(t, `no person "bob@mit.edu"`, "person", "show", "bob@mit.edu")
	orbis(t, "", "site", "delete", "mit")
	wantFail(t, "no site", "site", "show", "mit")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// fakeNode registers with a token from `orbis nodes token`'s output and
// answers every sliver it is given with state (and reason), as a node
// agent would, until the test ends.
func fakeNode(t *testing.T, url, tokenOutput, hostname, state, reason string) *api.NodeClient {
	t.Helper()
	m := regexp.MustCompile(`orbis node --central (\S+) --token ([0-9a-f]+)`).FindStringSubmatch(tokenOutput)
	if m == nil || m[1] != url {
		t.Fatalf("no registration command for %s in:\n%s", url, tokenOutput)
	}
	ctx := testutil.Context(t)
	reg, err := api.RegisterNode(ctx, url, nil, api.NodeRegisterRequest{Token: m[2], Hostname: hostname})
	if err != nil {
		t.Fatalf("register %s: %v", hostname, err)
	}
	nc := api.NewNodeClient(url, reg.NodeID, reg.Secret, nil)
	go func() {
		since := int64(-1)
		for ctx.Err() == nil {
			list, err := nc.Slivers(ctx, since)
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			since = list.Version
			var reports []api.SliverReport
			for _, s := range list.Slivers {
				reports = append(reports, api.SliverReport{Name: s.Name, State: api.SliverState(state), Reason: reason})
			}
			time.Sleep(300 * time.Millisecond) // creating the slivers
			nc.Report(ctx, reports)
		}
	}()
	return nc
}

func TestNodesSliceReal(t *testing.T) {
	url := realCentral(t)
	login(t, url, adminEmail, adminPW)
	orbis(t, "", "site", "create", "mit", "--name", "MIT", "--max-slices", "5", "--enabled")
	orbis(t, "alice-password\n", "person", "create", "alice@mit.edu", "--first", "Alice", "--last", "Smith", "--site", "mit", "--role", "pi", "--enabled", "--password-stdin")

	hosts := []string{"n1.example.org", "n2.example.org", "n3.example.org"}
	for _, h := range hosts {
		contains(t, orbis(t, "", "nodes", "create", h, "--site", "mit", "--no-token"), "created node "+h)
	}
	wantFail(t, "", "nodes", "create", "n1.example.org", "--site", "mit")
	out := orbis(t, "", "nodes", "token", "n1.example.org")
	contains(t, out, "registration token for n1.example.org", "on the node, as root, run:\n  orbis node --central "+url+" --token ")
	n1 := fakeNode(t, url, out, "n1.example.org", "running", "")
	n2 := fakeNode(t, url, orbis(t, "", "nodes", "token", "n2.example.org"), "n2.example.org", "failed", "cpu_guarantee: 300 requested, 200 of 1000 free")
	orbis(t, "", "nodes", "update", "n3.example.org", "--boot-state", "safeboot")
	out = orbis(t, "", "nodes", "list", "--site", "mit")
	if !regexp.MustCompile(`(?m)^\d+ +n3.example.org +mit +\S+ +safeboot +- +never +0 +- +- +-$`).MatchString(out) {
		t.Errorf("nodes list:\n%s", out)
	}
	// Node selection by the nodes' summaries, without scraping.
	ctx := testutil.Context(t)
	if err := n1.Summary(ctx, api.NodeSummary{Load: 2.5, MemTotal: 4 << 30, FreeMem: 3 << 30, DiskTotal: 10 << 30, FreeDisk: 5 << 30}); err != nil {
		t.Fatal(err)
	}
	if err := n2.Summary(ctx, api.NodeSummary{Load: 0.25, MemTotal: 4 << 30, FreeMem: 512 << 20}); err != nil {
		t.Fatal(err)
	}
	out = orbis(t, "", "nodes", "list", "--sort", "load")
	if !regexp.MustCompile(`(?s)n2.example.org .* 0.25 +512.0MiB .*\n.*n1.example.org .* 2.50 +3.0GiB +5.0GiB\n.*n3.example.org`).MatchString(out) {
		t.Errorf("nodes list --sort load:\n%s", out)
	}
	out = orbis(t, "", "nodes", "list", "--where", "free_mem>1G", "--sort", "-load")
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, "n1.example.org") {
		t.Errorf("nodes list --where free_mem>1G:\n%s", out)
	}
	out = orbis(t, "", "nodes", "list", "--json", "--where", "load<1")
	if !strings.Contains(out, `"hostname": "n2.example.org"`) || !strings.Contains(out, `"free_mem": 536870912`) || strings.Contains(out, "n1.example.org") {
		t.Errorf("nodes list --json --where load<1:\n%s", out)
	}
	wantFail(t, `unknown field "mem"`, "nodes", "list", "--where", "mem>1G")
	wantFail(t, `want a number`, "nodes", "list", "--where", "free_mem>lots")
	wantFail(t, `--sort "size"`, "nodes", "list", "--sort", "size")
	wantFail(t, `no node "n9.example.org"`, "nodes", "show", "n9.example.org")

	// Alice makes a slice and puts it on the nodes.
	login(t, url, "alice@mit.edu", "alice-password")
	contains(t, orbis(t, "", "slice", "create", "mit_x", "--description", "an experiment", "--url", "http://x.mit.edu"), "created slice mit_x")
	wantFail(t, "", "slice", "create", "harvard_x")
	wantFail(t, "not a slice name", "slice", "create", "mit_../x")
	orbis(t, "", "slice", "add-user", "mit_x", "alice@mit.edu")
	start := time.Now()
	out, err := orbisErr(t, "", "slice", "add-nodes", "mit_x", "n1.example.org", "n2.example.org", "n3.example.org", "--wait", "3s")
	t.Logf("add-nodes after %v:\n%s%v", time.Since(start), out, err)
	contains(t, out, "n1.example.org  running\n", "n2.example.org  failed: cpu_guarantee: 300 requested, 200 of 1000 free\n")
	if err == nil {
		t.Fatal("add-nodes succeeded with a failed sliver and a silent node")
	}
	contains(t, err.Error(), "not running on 2 of 3 node(s)", "n2.example.org: failed: cpu_guarantee", "n3.example.org: no report after 3s (the node has never contacted central")

	// show tells the users, nodes and slivers' states.
	out = orbis(t, "", "slice", "show", "mit_x")
	contains(t, out, "users:", "alice@mit.edu", "sliver n1.example.org: running", "sliver n2.example.org: failed: cpu_guarantee")
	out = orbis(t, "", "slice", "list")
	if !regexp.MustCompile(`(?m)^\d+ +mit_x +3 +1 +`).MatchString(out) {
		t.Errorf("slice list:\n%s", out)
	}
	// Taken off the failing node, and put back on a running one: success.
	orbis(t, "", "slice", "remove-nodes", "mit_x", "n2.example.org", "n3.example.org")
	contains(t, orbis(t, "", "slice", "add-nodes", "mit_x", "n1.example.org"), "slice mit_x is running on 1 node(s)")

	// Renewal within 8 weeks, not beyond (alice is no admin); bad dates.
	contains(t, orbis(t, "", "slice", "renew", "mit_x", "--expires", "+4w"), "slice mit_x now expires ")
	wantFail(t, "", "slice", "renew", "mit_x", "--expires", "+20w")
	wantFail(t, `no slice "mit_y"`, "slice", "renew", "mit_y", "--expires", "+1w")
	wantFail(t, `no slice "mit_y"`, "slice", "add-nodes", "mit_y", "n1.example.org")

	orbis(t, "", "slice", "remove-user", "mit_x", "alice@mit.edu")
	orbis(t, "", "slice", "update", "mit_x", "--description", "still an experiment")
	contains(t, orbis(t, "", "slice", "show", "mit_x"), "description:", "still an experiment")
	orbis(t, "", "slice", "delete", "mit_x")
	wantFail(t, "no slice", "slice", "show", "mit_x")
	login(t, url, adminEmail, adminPW)
	orbis(t, "", "nodes", "delete", "n3.example.org")
	wantFail(t, "no node", "nodes", "show", "n3.example.org")
}
