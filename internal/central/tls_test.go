package central_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/centraltest"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/testutil"
)

func startTLSCentral(t *testing.T) *centraltest.Central {
	return centraltest.StartTLS(t, "admin@orbis.test")
}

// TestCentralHTTPS: central serves its APIs over HTTPS with a CA of its
// own; a client pinning the CA logs in, one that pins another CA or
// speaks plain HTTP gets nothing, and admin.json names the https URL.
func TestCentralHTTPS(t *testing.T) {
	tc := startTLSCentral(t)
	if !strings.HasPrefix(tc.Admin.Central, "https://") {
		t.Errorf("admin.json names central %q, want https://", tc.Admin.Central)
	}
	v, err := api.NewVerifier(api.Trust{CAHash: tc.CAHash})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testutil.Context(t)
	if _, err := api.NewCentralClientTLS(tc.URL, "", v).Login(ctx, tc.Admin.Email, tc.Admin.Password); err != nil {
		t.Fatalf("login over HTTPS pinning the CA: %v", err)
	}
	wrong, _ := api.NewVerifier(api.Trust{CAHash: "sha256:" + strings.Repeat("ab", 32)})
	_, err = api.NewCentralClientTLS(tc.URL, "", wrong).Login(ctx, tc.Admin.Email, tc.Admin.Password)
	if err == nil || !strings.Contains(err.Error(), "not the expected") {
		t.Errorf("login pinning another CA: %v, want a refusal", err)
	}
	if _, err := api.NewCentralClient(tc.URL, "").Login(ctx, tc.Admin.Email, tc.Admin.Password); err == nil {
		t.Error("a client trusting only the system's roots logged in")
	}
	res, err := http.Post("http://"+strings.TrimPrefix(tc.URL, "https://")+"/api/v1/login", "application/json",
		strings.NewReader(`{"username":"`+tc.Admin.Email+`","password":"`+tc.Admin.Password+`"}`))
	if err == nil {
		defer res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("plain HTTP to the HTTPS port logged in")
		}
	}
	rpc := xmlrpc.NewClient(tc.URL + "/PLCAPI/")
	rpc.HTTP = v.HTTPClient()
	if _, err := rpc.Call(ctx, "AuthCheck", xmlrpc.PasswordAuth(tc.Admin.Email, tc.Admin.Password)); err != nil {
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
		out, err := exec.CommandContext(ctx, py, "-c", script, tc.URL, tc.Admin.Email, tc.Admin.Password, cafile).CombinedOutput()
		return string(out), err
	}
	out, err := run(tc.CAFile)
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

// TestNodeJoinPinsCA: a node given a token with central's CA hash
// registers over HTTPS and keeps central's CA; a token with another CA's
// hash (someone in between, or a wrong copy) is refused before the token
// leaves the node, with a message naming both fingerprints; a token with
// no hash is refused with what to do.
func TestNodeJoinPinsCA(t *testing.T) {
	tc := startTLSCentral(t)
	ctx := testutil.Context(t)
	call := func(method string, args ...any) any { return tc.Call(t, method, args...) }
	site := call("AddSite", map[string]any{"name": "Test", "abbreviated_name": "T", "login_base": "ts", "max_slices": 5, "enabled": true})
	id := call("AddNode", site, map[string]any{"hostname": "n1.orbis.test"})
	secret := call("AddNodeToken", id).(string)
	req := func(tok string) api.NodeRegisterRequest {
		return api.NodeRegisterRequest{Token: tok, Hostname: "n1.orbis.test"}
	}

	otherHash := "sha256:" + strings.Repeat("0f", 32)
	dir := t.TempDir()
	_, err := rm.Register(ctx, dir, tc.URL, api.Trust{}, req(api.JoinToken(secret, otherHash)))
	if err == nil || !strings.Contains(err.Error(), "fingerprint "+tc.CAHash) || !strings.Contains(err.Error(), otherHash) {
		t.Fatalf("join with a wrong CA hash: %v, want a refusal naming both fingerprints", err)
	}
	if _, ok, _ := rm.LoadCredentials(dir); ok {
		t.Fatal("a refused join kept credentials")
	}
	_, err = rm.Register(ctx, dir, tc.URL, api.Trust{}, req(secret))
	if err == nil || !strings.Contains(err.Error(), "no CA fingerprint") {
		t.Fatalf("join over HTTPS with a token without a CA hash: %v, want a clear refusal", err)
	}

	// The refusals sent nothing: the token still works, once.
	creds, err := rm.Register(ctx, dir, tc.URL, api.Trust{}, req(api.JoinToken(secret, tc.CAHash)))
	if err != nil {
		t.Fatalf("join with central's CA hash: %v", err)
	}
	if pinned, err := api.ParseCA([]byte(creds.CA)); err != nil || api.CAHash(pinned[0]) != tc.CAHash {
		t.Fatalf("the node kept CA %q (%v), want central's", creds.CA, err)
	}
	saved, ok, err := rm.LoadCredentials(dir)
	if err != nil || !ok || saved.CA != creds.CA {
		t.Fatalf("saved credentials: %+v %v %v", saved, ok, err)
	}
	if l, err := saved.Client().Slivers(ctx, -1); err != nil || l.NodeID != creds.NodeID {
		t.Fatalf("the node's channel with the pinned CA: %+v, %v", l, err)
	}
	// Another server with a certificate of another CA, where the node
	// looks for central, gets no request of the node's.
	impostor := startTLSCentral(t)
	saved.Central = impostor.URL
	if _, err := saved.Client().Slivers(ctx, -1); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("the node's channel to a server of another CA: %v, want a certificate refusal", err)
	}
}

// TestOpenPlainHTTPRefused: Open, which `orbis dev` serves plain HTTP
// with, refuses plain HTTP on an address that is not loopback too.
func TestOpenPlainHTTPRefused(t *testing.T) {
	_, err := central.Open(context.Background(), central.Config{Addr: "0.0.0.0:8780", DataDir: t.TempDir(), PlainHTTP: true})
	if err == nil || !strings.Contains(err.Error(), "--insecure-http") {
		t.Errorf("Open with plain HTTP on 0.0.0.0: %v, want a refusal", err)
	}
}
