// Package centraltest runs a real central for tests, the way `orbis
// central` runs it: over HTTPS, with the CA central makes, on a loopback
// port of its own.
package centraltest

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
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
