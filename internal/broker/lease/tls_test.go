package lease

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/pki"
	"github.com/orbisproject/orbis/internal/testutil"
)

// runTLS runs a broker as `orbis-lease serve` does, on a loopback port,
// and returns its URL and its CA's hash.
func runTLS(t *testing.T) (url, hash, dir string) {
	t.Helper()
	dir = t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := Config{Dir: dir, Slot: time.Hour, NM: NewFakeNM(api.Rspec{Slivers: 1, CPUShares: 10, End: time.Now().Add(24 * time.Hour).Unix()}), Log: testutil.Logger(t)}
	go func() { done <- RunOn(ctx, cfg, l) }()
	t.Cleanup(func() { cancel(); <-done })
	caFile := filepath.Join(TLSDir(dir), pki.CAFile)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		pem, err := os.ReadFile(caFile)
		if certs, perr := api.ParseCA(pem); err == nil && perr == nil {
			hash = api.CAHash(certs[0])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker made no CA: %v", err)
		}
	}
	return "https://" + l.Addr().String(), hash, dir
}

// TestBrokerTLS: the broker serves HTTPS with a CA of its own; a buyer
// pinning its hash in the URL is served, one pinning another hash or none
// is refused before sending a credential, and so is plain HTTP to a host
// that is not loopback.
func TestBrokerTLS(t *testing.T) {
	url, hash, _ := runTLS(t)
	ctx := testutil.Context(t)
	var info Info
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if info, err = NewClient(url + "#" + hash).Info(ctx); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || info.SlotSeconds != 3600 {
		t.Fatalf("info pinning the broker's CA: %+v, %v", info, err)
	}
	other := "sha256:" + strings.Repeat("12", 32)
	if _, err := NewClient(url + "#" + other).WithAuth("acct:secret").Account(ctx); err == nil || !strings.Contains(err.Error(), "not the expected") {
		t.Errorf("a buyer pinning another CA: %v, want a refusal", err)
	}
	if _, err := NewClient(url).Info(ctx); err == nil {
		t.Error("a buyer trusting the system's roots was served by a private CA")
	}
	for _, spec := range []string{url, "http://192.0.2.7:61080", url + "#sha256:zz"} {
		if err := CheckBroker(spec, false); err == nil {
			t.Errorf("CheckBroker(%q) = nil, want a refusal", spec)
		}
	}
	if err := CheckBroker(url+"#"+hash, false); err != nil {
		t.Errorf("CheckBroker with the CA hash: %v", err)
	}
	if err := CheckBroker("http://192.0.2.7:61080", true); err != nil {
		t.Errorf("CheckBroker plain HTTP with insecure allowed: %v", err)
	}
}
