package pki

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// serve serves "ok" over HTTPS with s on a loopback port and returns its
// URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		TLSConfig: s.TLSConfig(), ErrorLog: nil}
	go srv.ServeTLS(l, "", "")
	t.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String()
}

func get(v *api.Verifier, url string) error {
	res, err := v.HTTPClient().Get(url)
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

// TestGeneratedCA: the CA and certificate are made once (keys 0600), kept
// across restarts, and a client pinning the CA by hash or by file gets
// through while a wrong hash or no trust at all is refused.
func TestGeneratedCA(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Name: "test CA", SANs: []string{"127.0.0.1", "localhost"}, Log: testutil.Logger(t)}
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{caKeyFile, serverKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", f, err, fi.Mode().Perm())
		}
	}
	again, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.CAHash() != s.CAHash() || !strings.HasPrefix(s.CAHash(), "sha256:") {
		t.Fatalf("CA hash %q, then %q after a restart: want one sha256: hash", s.CAHash(), again.CAHash())
	}
	url := serve(t, s)
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	byHash, _ := api.NewVerifier(api.Trust{CAHash: s.CAHash()})
	if err := get(byHash, url); err != nil {
		t.Errorf("pinned by hash: %v", err)
	}
	if byHash.CA() == nil || api.CAHash(byHash.CA()) != s.CAHash() {
		t.Errorf("the verifier kept CA %v, want the server's", byHash.CA())
	}
	byFile, _ := api.NewVerifier(api.Trust{CA: caPEM})
	if err := get(byFile, url); err != nil {
		t.Errorf("pinned by file: %v", err)
	}
	other, err := Open(Config{Dir: t.TempDir(), Name: "other CA", SANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	wrong, _ := api.NewVerifier(api.Trust{CAHash: other.CAHash()})
	if err := get(wrong, url); err == nil || !strings.Contains(err.Error(), "not the expected "+other.CAHash()) {
		t.Errorf("pinned to another CA's hash: %v, want a refusal naming the fingerprints", err)
	}
	otherPEM, _ := os.ReadFile(other.CAFile)
	wrongFile, _ := api.NewVerifier(api.Trust{CA: otherPEM})
	if err := get(wrongFile, url); err == nil {
		t.Error("pinned to another CA's file: the server was accepted")
	}
	system, _ := api.NewVerifier(api.Trust{System: true})
	if err := get(system, url); err == nil {
		t.Error("the system's roots accepted a private CA")
	}
}

// TestWrongHost: a certificate of the pinned CA for another host is
// refused.
func TestWrongHost(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir(), Name: "test CA", SANs: []string{"10.9.9.9"}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := api.NewVerifier(api.Trust{CAHash: s.CAHash()})
	if err := get(v, serve(t, s)); err == nil {
		t.Error("a certificate for 10.9.9.9 was accepted for 127.0.0.1")
	}
}

// TestReload: the operator's files are served, and replaced files are
// served without a restart; a broken replacement keeps the old one.
func TestReload(t *testing.T) {
	gen := func(dir string) *Server {
		s, err := Open(Config{Dir: dir, Name: "CA " + dir, SANs: []string{"127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := gen(t.TempDir()), gen(t.TempDir())
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	install := func(from *Server) {
		for src, dst := range map[string]string{ServerCertFile: certFile, serverKeyFile: keyFile} {
			data, err := os.ReadFile(filepath.Join(filepath.Dir(from.CAFile), src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(a)
	s, err := Open(Config{CertFile: certFile, KeyFile: keyFile, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, s)
	va, _ := api.NewVerifier(api.Trust{CAHash: a.CAHash()})
	vb, _ := api.NewVerifier(api.Trust{CAHash: b.CAHash()})
	if err := get(va, url); err != nil {
		t.Fatalf("the operator's certificate: %v", err)
	}
	install(b)
	later := time.Now().Add(2 * time.Second)
	os.Chtimes(certFile, later, later)
	os.Chtimes(keyFile, later, later)
	deadline := time.Now().Add(10 * time.Second)
	for get(vb, url) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the replaced certificate was not served")
		}
		time.Sleep(200 * time.Millisecond)
	}
	os.WriteFile(keyFile, []byte("garbage"), 0o600)
	time.Sleep(1500 * time.Millisecond)
	if err := get(vb, url); err != nil {
		t.Errorf("after a broken replacement: %v, want the last good certificate", err)
	}
}
