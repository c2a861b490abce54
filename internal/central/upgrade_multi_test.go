package central_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/testutil"
)

// adminClient is a JSON API client of the admin at url.
func (e *multiEnv) adminClient(url string) *api.CentralClient {
	e.t.Helper()
	pem, err := os.ReadFile(central.CAFile(e.dir))
	if err != nil {
		e.t.Fatal(err)
	}
	v, err := api.NewVerifier(api.Trust{CA: pem})
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := api.NewCentralClientTLS(url, "", v).Login(context.Background(), e.adm.Email, e.adm.Password)
	if err != nil {
		e.t.Fatalf("login at %s: %v", url, err)
	}
	return api.NewCentralClientTLS(url, tok, v)
}

// publishSelf publishes this test binary (an ELF executable for this
// machine) with pad zero bytes after it, a build of its own for each pad,
// as build version through c.
func publishSelf(t *testing.T, c *api.CentralClient, version string, pad int) (api.Upgrade, []byte) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin = append(bin, make([]byte, pad)...)
	u, err := c.PublishUpgrade(context.Background(), version, runtime.GOARCH, bytes.NewReader(bin), int64(len(bin)), nil, 0)
	if err != nil {
		t.Fatalf("publish %s: %v", version, err)
	}
	return u, bin
}

// fetchVerified does what a node agent does with an offer: checks its
// signature by the key the node keeps, fetches the bytes and checks their
// SHA-256 and that they are an executable for this machine.
func fetchVerified(t *testing.T, nc *api.NodeClient, u api.Upgrade, key []byte, want []byte) {
	t.Helper()
	if !api.VerifyUpgrade(u, key) {
		t.Fatalf("the offer of %s is not signed by the key the node keeps", u.Version)
	}
	var got bytes.Buffer
	if err := nc.UpgradeBinary(testutil.Context(t), u.SHA256, u.Size, &got); err != nil {
		t.Fatalf("fetch %s: %v", u.Version, err)
	}
	sum := sha256.Sum256(got.Bytes())
	if hex.EncodeToString(sum[:]) != u.SHA256 || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("fetched %d bytes of %s that are not the signed build", got.Len(), u.Version)
	}
	if err := api.CheckELF(bytes.NewReader(got.Bytes()), runtime.GOARCH); err != nil {
		t.Fatal(err)
	}
}

// TestTwoCentralsUpgrade publishes node upgrades through one central
// process of two on one database: a node whose upgrade call waits at the
// other process learns of the build within a second of the publish,
// fetches it there and verifies it under the key it kept; a third process
// with a data directory of its own (only the CA copied) offers the same
// build under the same key; the node's new version, reported to one
// process, shows through another; and with the publishing process killed
// the others serve the build on.
func TestTwoCentralsUpgrade(t *testing.T) {
	e := newMultiEnv(t)
	a, b := e.procs["a"], e.procs["b"]
	ctx := testutil.Context(t)
	site := e.call(a.url, "AddSite", map[string]any{"name": "Up", "abbreviated_name": "U", "login_base": "up", "max_slices": 10, "enabled": true})
	onB := e.node(b.url, site, "nu.orbis.test")
	if _, ok, err := onB.Upgrade(ctx, "old"); err != nil || ok {
		t.Fatalf("an offer before any publish: %v, %v", ok, err)
	}

	// The node waits at b; the build is published through a.
	type result struct {
		u   api.Upgrade
		ok  bool
		err error
		at  time.Time
	}
	got := make(chan result, 1)
	go func() {
		u, ok, err := onB.WaitUpgrade(ctx, "old", "")
		got <- result{u, ok, err, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond) // the call waits
	start := time.Now()
	pub, bin := publishSelf(t, e.adminClient(a.url), "multi-1", 0)
	published := time.Now()
	var r result
	select {
	case r = <-got:
	case <-time.After(time.Second):
		t.Fatalf("no offer at b within 1 s of the publish through a (which took %v)", published.Sub(start))
	}
	if r.err != nil || !r.ok || r.u.SHA256 != pub.SHA256 {
		t.Fatalf("offer at b: %+v, %v, %v; want the build published through a", r.u, r.ok, r.err)
	}
	if r.at.Before(start) {
		t.Fatal("the waiting call answered before the publish")
	}
	t.Logf("published through a in %v; the node waiting at b had the offer %v after the publish returned", published.Sub(start), r.at.Sub(published))
	key := r.u.PublicKey // what the node keeps from its first offer
	if !bytes.Equal(key, pub.PublicKey) {
		t.Fatal("b offers under another key than a signed with")
	}
	fetchVerified(t, onB, r.u, key, bin)

	// The node reports its new version to b; a shows it.
	if _, _, err := onB.Upgrade(ctx, "multi-1"); err != nil {
		t.Fatal(err)
	}
	nodes := e.call(a.url, "GetNodes", []any{"nu.orbis.test"}, []any{"version"}).([]any)
	if v := nodes[0].(map[string]any)["version"]; v != "multi-1" {
		t.Fatalf("a shows the node's version %v, want multi-1", v)
	}

	// A process with a data directory of its own signs with the store's
	// key, not one of its own.
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "ca.key"} {
		data, err := os.ReadFile(filepath.Join(e.dir, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "tls"), 0o700)
		if err := os.WriteFile(filepath.Join(dir, "tls", f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := startCentralProc(t, "c", "127.0.0.1:0", e.db, dir)
	e.procs["c"] = c
	onC := api.NewNodeClient(c.url, onB.NodeID(), e.secrets[onB.NodeID()], e.nodeHTTP())
	cu, ok, err := onC.Upgrade(ctx, "multi-1")
	if err != nil || !ok || cu.SHA256 != pub.SHA256 {
		t.Fatalf("offer at c: %+v, %v, %v", cu, ok, err)
	}
	fetchVerified(t, onC, cu, key, bin)
	second, bin2 := publishSelf(t, e.adminClient(c.url), "multi-2", 1)
	if !bytes.Equal(second.PublicKey, key) {
		t.Fatal("c signs with another key")
	}

	// The publishing process dies: b serves the build it published.
	c.kill()
	u, ok, err := onB.WaitUpgrade(ctx, "multi-1", pub.SHA256)
	if err != nil || !ok || u.SHA256 != second.SHA256 {
		t.Fatalf("offer at b after c died: %+v, %v, %v", u, ok, err)
	}
	fetchVerified(t, onB, u, key, bin2)
}
