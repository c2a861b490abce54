package node

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestFollowRefusesWrongCA: `orbis node --central https://... --token T`
// with a token whose CA fingerprint is not central's stops with a message
// naming both fingerprints, keeps no credentials and leaves the token
// unused; so does a token without a fingerprint over HTTPS, and plain
// HTTP to a central that is not loopback.
func TestFollowRefusesWrongCA(t *testing.T) {
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
	var adm central.Admin
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err := os.ReadFile(central.AdminFile(dir))
		if err == nil && json.Unmarshal(b, &adm) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("central did not start: %v", err)
		}
	}
	pem, err := os.ReadFile(central.CAFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	v, err := api.NewVerifier(api.Trust{CA: pem})
	if err != nil {
		t.Fatal(err)
	}
	url := "https://" + l.Addr().String()
	rpc := xmlrpc.NewClient(url + "/PLCAPI/")
	rpc.HTTP = v.HTTPClient()
	auth := xmlrpc.PasswordAuth(adm.Email, adm.Password)
	call := func(method string, args ...any) any {
		t.Helper()
		r, err := rpc.Call(context.Background(), method, append([]any{auth}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return r
	}
	site := call("AddSite", map[string]any{"name": "T", "abbreviated_name": "T", "login_base": "ts", "max_slices": 1, "enabled": true})
	id := call("AddNode", site, map[string]any{"hostname": "n1.orbis.test"})
	secret := call("AddNodeToken", id).(string)

	wrong := "sha256:" + strings.Repeat("ee", 32)
	state := t.TempDir()
	cfg := Config{StateDir: state, Central: url, Hostname: "n1.orbis.test", Log: testutil.Logger(t)}
	cases := []struct {
		name, central, token, want string
	}{
		{"wrong fingerprint", url, api.JoinToken(secret, wrong), "not the expected " + wrong},
		{"no fingerprint", url, secret, "no CA fingerprint"},
		{"plain HTTP off loopback", "http://192.0.2.1:8780", secret, "--insecure-http"},
	}
	for _, c := range cases {
		cfg.Central, cfg.Token = c.central, c.token
		err := follow(context.Background(), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
		if _, ok, _ := rm.LoadCredentials(filepath.Join(state, "rm")); ok {
			t.Fatalf("%s: the node kept credentials", c.name)
		}
	}
	// The refused joins sent nothing: the token still registers.
	creds, err := rm.Register(context.Background(), t.TempDir(), url, api.Trust{},
		api.NodeRegisterRequest{Token: api.JoinToken(secret, api.CAHash(mustCA(t, pem))), Hostname: "n1.orbis.test"})
	if err != nil || creds.CA == "" {
		t.Fatalf("join with central's fingerprint after the refusals: %+v, %v", creds, err)
	}
}

func mustCA(t *testing.T, pem []byte) *x509.Certificate {
	t.Helper()
	certs, err := api.ParseCA(pem)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}
