// Package pki gives a server its HTTPS certificate: either files the
// operator provides, reloaded when they change, or a certificate
// authority of its own, made on first start in its data directory, and a
// server certificate it signs. Clients pin the CA by its hash
// (api.CAHash), the way `kubeadm join` pins a cluster's CA; how central and
// the lease broker use it is in docs/deploy.md.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// The files of a generated CA and server certificate, in the data
// directory. Keys are mode 0600.
const (
	CAFile         = "ca.crt"
	caKeyFile      = "ca.key"
	ServerCertFile = "server.crt" // the server's certificate, then the CA's
	serverKeyFile  = "server.key"
)

// Lifetimes of generated certificates. A server certificate is made anew
// at start when it has less than renewBefore left, or no longer names
// every SAN asked for.
const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// Config says where a server's certificate comes from.
type Config struct {
	// CertFile and KeyFile are the operator's PEM files (the certificate
	// followed by its chain); empty: generate a CA and a certificate in
	// Dir.
	CertFile, KeyFile string
	// Dir keeps the generated CA and certificate.
	Dir string
	// Name names the CA ("Orbis central CA").
	Name string
	// SANs are the host names and IP addresses the generated server
	// certificate is for.
	SANs []string
	// Log receives reloads and their failures.
	Log *slog.Logger
}

// Server is a server's TLS configuration.
type Server struct {
	// CA is the generated CA (nil with the operator's files).
	CA *x509.Certificate
	// CAFile is the generated CA's certificate file ("" with the
	// operator's files).
	CAFile string
	// certs serves the certificate.
	certs *Reloader
}

// Open returns the TLS configuration cfg describes, generating the CA and
// the server certificate if need be.
func Open(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("TLS: give both the certificate and the key file, or neither")
	}
	s := &Server{}
	certFile, keyFile := cfg.CertFile, cfg.KeyFile
	if certFile == "" {
		ca, err := ensureCA(cfg.Dir, cfg.Name)
		if err != nil {
			return nil, err
		}
		if err := ensureServerCert(cfg.Dir, ca, cfg.SANs); err != nil {
			return nil, err
		}
		s.CA, s.CAFile = ca.cert, filepath.Join(cfg.Dir, CAFile)
		certFile, keyFile = filepath.Join(cfg.Dir, ServerCertFile), filepath.Join(cfg.Dir, serverKeyFile)
	}
	r, err := NewReloader(certFile, keyFile, cfg.Log)
	if err != nil {
		return nil, err
	}
	s.certs = r
	return s, nil
}

// TLSConfig returns the server's TLS configuration.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certs.GetCertificate}
}

// CAHash is the generated CA's hash ("" with the operator's files).
func (s *Server) CAHash() string {
	if s.CA == nil {
		return ""
	}
	return api.CAHash(s.CA)
}

// SANs returns the names a server listening on addr is reached by: the
// extra names given, and the listen address's host, or every address of
// this machine when it listens on all of them.
func SANs(addr string, extra []string) []string {
	sans := slices.Clone(extra)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	switch {
	case host == "" || (ip != nil && ip.IsUnspecified()):
		addrs, _ := net.InterfaceAddrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				sans = append(sans, n.IP.String())
			}
		}
		if h, err := os.Hostname(); err == nil {
			sans = append(sans, h)
		}
		sans = append(sans, "localhost")
	default:
		sans = append(sans, host)
	}
	slices.Sort(sans)
	return slices.Compact(sans)
}

// keyPair is a certificate and its key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// ensureCA loads the CA kept in dir, or makes one.
func ensureCA(dir, name string) (keyPair, error) {
	kp, err := loadPair(filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile))
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kp, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return kp, fmt.Errorf("CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	kp, err = sign(tmpl, tmpl, key, key)
	if err != nil {
		return kp, fmt.Errorf("CA certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return kp, fmt.Errorf("CA directory: %w", err)
	}
	// The key first: a certificate without its key is not a CA to load.
	if err := writeKey(filepath.Join(dir, caKeyFile), key); err != nil {
		return kp, err
	}
	return kp, atomicfile.WriteFile(filepath.Join(dir, CAFile), api.EncodeCA(kp.cert), 0o644)
}

// ensureServerCert makes the server certificate in dir unless the one
// there is signed by ca, names every SAN and is not about to expire.
func ensureServerCert(dir string, ca keyPair, sans []string) error {
	certFile, keyFile := filepath.Join(dir, ServerCertFile), filepath.Join(dir, serverKeyFile)
	if kp, err := loadPair(certFile, keyFile); err == nil && fits(kp.cert, ca.cert, sans) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("server key: %w", err)
	}
	cn := "orbis"
	if len(sans) > 0 {
		cn = sans[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, s := range sans {
		if ip := net.ParseIP(s); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	kp, err := sign(tmpl, ca.cert, key, ca.key)
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	if err := writeKey(keyFile, key); err != nil {
		return err
	}
	chain := append(api.EncodeCA(kp.cert), api.EncodeCA(ca.cert)...)
	return atomicfile.WriteFile(certFile, chain, 0o644)
}

// fits says whether cert, signed by ca, names every SAN and lasts.
func fits(cert, ca *x509.Certificate, sans []string) bool {
	if cert.CheckSignatureFrom(ca) != nil || time.Until(cert.NotAfter) < renewBefore {
		return false
	}
	for _, s := range sans {
		if cert.VerifyHostname(s) != nil {
			return false
		}
	}
	return true
}

func sign(tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) (keyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return keyPair{}, err
	}
	cert, err := x509.ParseCertificate(der)
	return keyPair{cert: cert, key: key}, err
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// loadPair reads a certificate (the first in its file) and its ECDSA key.
func loadPair(certFile, keyFile string) (keyPair, error) {
	var kp keyPair
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		if _, serr := os.Stat(certFile); errors.Is(serr, fs.ErrNotExist) {
			return kp, fmt.Errorf("load %s: %w", certFile, fs.ErrNotExist)
		}
		return kp, fmt.Errorf("load %s: %w", certFile, err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return kp, fmt.Errorf("load %s: the key is not ECDSA", keyFile)
	}
	return keyPair{cert: pair.Leaf, key: key}, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("encode key: %w", err)
	}
	return atomicfile.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// ParseSANs splits a comma-separated list of host names and addresses.
func ParseSANs(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
