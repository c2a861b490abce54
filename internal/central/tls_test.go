package central_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/testutil"
)

// tlsCentral is central served by RunOn over HTTPS with the CA it makes.
type tlsCentral struct {
	dir, url string
	adm      central.Admin
	caHash   string
	caPEM    []byte
}

// startTLSCentral runs central the way `orbis central` does, on a
// loopback port, until the test ends.
func startTLSCentral(t *testing.T) *tlsCentral {
	t.Helper()
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- central.RunOn(ctx, central.Config{DataDir: dir, AdminEmail: "admin@orbis.test", Log: testutil.Logger(t)}, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
	tc := &tlsCentral{dir: dir, url: "https://" + l.Addr().String()}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(central.AdminFile(dir))
		if err == nil && json.Unmarshal(b, &tc.adm) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if tc.caPEM, err = os.ReadFile(central.CAFile(dir)); err != nil {
		t.Fatal(err)
	}
	certs, err := api.ParseCA(tc.caPEM)
	if err != nil {
		t.Fatal(err)
	}
	tc.caHash = api.CAHash(certs[0])
	return tc
}

// TestCentralHTTPS: central serves its APIs over HTTPS with a CA of its
// own; a client pinning the CA logs in, one that pins another CA or
// speaks plain HTTP gets nothing, and admin.json names the https URL.
func TestCentralHTTPS(t *testing.T) {
	tc := startTLSCentral(t)
	if !strings.HasPrefix(tc.adm.Central, "https://") {
		t.Errorf("admin.json names central %q, want https://", tc.adm.Central)
	}
	v, err := api.NewVerifier(api.Trust{CAHash: tc.caHash})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t)
	if _, err := api.NewCentralClientTLS(tc.url, "", v).Login(ctx, tc.adm.Email, tc.adm.Password); err != nil {
		t.Fatalf("login over HTTPS pinning the CA: %v", err)
	}
	wrong, _ := api.NewVerifier(api.Trust{CAHash: "sha256:" + strings.Repeat("ab", 32)})
	_, err = api.NewCentralClientTLS(tc.url, "", wrong).Login(ctx, tc.adm.Email, tc.adm.Password)
	if err == nil || !strings.Contains(err.Error(), "not the expected") {
		t.Errorf("login pinning another CA: %v, want a refusal", err)
	}
	if _, err := api.NewCentralClient(tc.url, "").Login(ctx, tc.adm.Email, tc.adm.Password); err == nil {
		t.Error("a client trusting only the system's roots logged in")
	}
	res, err := http.Post("http://"+strings.TrimPrefix(tc.url, "https://")+"/api/v1/login", "application/json",
		strings.NewReader(`{"username":"`+tc.adm.Email+`","password":"`+tc.adm.Password+`"}`))
	if err == nil {
		defer res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("plain HTTP to the HTTPS port logged in")
		}
	}
	rpc := xmlrpc.NewClient(tc.url + "/PLCAPI/")
	rpc.HTTP = v.HTTPClient()
	if _, err := rpc.Call(ctx, "AuthCheck", xmlrpc.PasswordAuth(tc.adm.Email, tc.adm.Password)); err != nil {
		t.Errorf("PLCAPI over HTTPS: %v", err)
	}
}

// TestCentralPythonHTTPS: Python's own xmlrpc.client, verifying central
// by the CA file, calls PLCAPI; without the CA file it refuses central.
func TestCentralPythonHTTPS(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed (it is on every machine here)")
	}
	tc := startTLSCentral(t)
	const script = `
import sys, ssl, xmlrpc.client as x
url, email, password, cafile = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
s = x.ServerProxy(url + "/PLCAPI/", context=ctx, allow_none=True)
auth = {"AuthMethod": "password", "Username": email, "AuthString": password}
print("AUTHCHECK", s.AuthCheck(auth))
print("SITES", len(s.GetSites(auth)))
`
	run := func(cafile string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, py, "-c", script, tc.url, tc.adm.Email, tc.adm.Password, cafile).CombinedOutput()
		return string(out), err
	}
	out, err := run(central.CAFile(tc.dir))
	if err != nil || !strings.Contains(out, "AUTHCHECK 1") {
		t.Fatalf("python with the CA file: %v\n%s", err, out)
	}
	out, err = run("")
	if err == nil || !strings.Contains(out, "CERTIFICATE_VERIFY_FAILED") {
		t.Errorf("python without the CA file: %v, want a verification failure\n%s", err, out)
	}
}

// TestCentralPlainHTTPRefused: plain HTTP on an address that is not
// loopback is refused, unless insisted on.
func TestCentralPlainHTTPRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", "192.0.2.1:8780", ":8780"} {
		err := central.Run(context.Background(), central.Config{Addr: addr, DataDir: t.TempDir(), PlainHTTP: true})
		if err == nil || !strings.Contains(err.Error(), "--insecure-http") {
			t.Errorf("plain HTTP on %s: %v, want a refusal naming --insecure-http", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- central.RunOn(ctx, central.Config{DataDir: t.TempDir(), PlainHTTP: true, InsecureHTTP: true, Log: testutil.Logger(t)}, l)
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("plain HTTP with --insecure-http: %v", err)
	}
}
