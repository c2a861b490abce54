// Package centraltest runs a real central for tests, the way `orbis
// central` runs it: over HTTPS, with the CA central makes, on a loopback
// port of its own.
package centraltest

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

// Central is a running central.
type Central struct {
	// URL is https://127.0.0.1:PORT; Dir its data directory.
	URL, Dir string
	// Admin is the bootstrap admin.
	Admin central.Admin
	// CAFile is central's CA certificate, CAPEM its content and CAHash
	// its fingerprint.
	CAFile, CAHash string
	CAPEM          []byte
	// Verifier verifies central by its CA file.
	Verifier *api.Verifier
}

// StartTLS runs central until the test ends, with the bootstrap admin
// adminEmail.
func StartTLS(t testing.TB, adminEmail string) *Central {
	t.Helper()
	c := &Central{Dir: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- central.RunOn(ctx, central.Config{DataDir: c.Dir, AdminEmail: adminEmail, Log: testutil.Logger(t)}, l)
	}()
	t.Cleanup(func() { cancel(); <-done })
	c.URL = "https://" + l.Addr().String()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, err := os.ReadFile(central.AdminFile(c.Dir))
		if err == nil && json.Unmarshal(b, &c.Admin) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central did not start: %v", err)
		}
	}
	c.CAFile = central.CAFile(c.Dir)
	if c.CAPEM, err = os.ReadFile(c.CAFile); err != nil {
		t.Fatal(err)
	}
	certs, err := api.ParseCA(c.CAPEM)
	if err != nil {
		t.Fatal(err)
	}
	c.CAHash = api.CAHash(certs[0])
	if c.Verifier, err = api.NewVerifier(api.Trust{CA: c.CAPEM}); err != nil {
		t.Fatal(err)
	}
	return c
}

// Call calls a PLCAPI method as the admin, failing the test on an error.
func (c *Central) Call(t testing.TB, method string, args ...any) any {
	t.Helper()
	rpc := xmlrpc.NewClient(c.URL + "/PLCAPI/")
	rpc.HTTP = c.Verifier.HTTPClient()
	auth := xmlrpc.PasswordAuth(c.Admin.Email, c.Admin.Password)
	r, err := rpc.Call(context.Background(), method, append([]any{auth}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return r
}

// Node is a real node manager, with a fake sliver runtime, and a real
// resource manager following a central over the node channel, in this
// process.
type Node struct {
	Host string
	RT   *nodemgr.FakeRuntime
}

// StartNode registers host at the central at url (trusted as trust) with
// the node token and runs its agent until the test ends.
func StartNode(t testing.TB, url string, trust api.Trust, host, token string) *Node {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	rt, _ := nodemgr.NewFakeRuntime("")
	nm, err := nodemgr.Open(ctx, nodemgr.Options{StateDir: filepath.Join(dir, "nm"), Runtime: rt,
		Node: nodemgr.Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}, Log: testutil.Logger(t).With("node", host)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "nm.sock")
	l, err := nodemgr.Listen(sock)
	if err != nil {
		cancel()
		nm.Close()
		t.Fatal(err)
	}
	go nm.Serve(ctx, l)
	creds, err := rm.Register(ctx, filepath.Join(dir, "rm"), url, trust, api.NodeRegisterRequest{Token: token, Hostname: host})
	if err != nil {
		cancel()
		nm.Close()
		t.Fatalf("register %s: %v", host, err)
	}
	done := make(chan struct{})
	go func() {
		rm.Run(ctx, rm.Options{Central: creds.Client(), NM: api.NewNMClient(sock), StateDir: filepath.Join(dir, "rm"),
			Every: 200 * time.Millisecond, MaxBackoff: time.Second})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done; nm.Close() })
	return &Node{Host: host, RT: rt}
}
