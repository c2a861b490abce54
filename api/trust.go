package api

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Central and the lease broker serve HTTPS. Their certificates chain up to
// a certificate authority of their own, which clients pin the way `kubeadm
// join` does: by the CA certificate itself (a PEM file), or by its hash,
// "sha256:" and the hex SHA-256 of the CA certificate's
// SubjectPublicKeyInfo (CAHash). A client given only the hash finds the CA
// in the chain the server presents, checks its hash, and verifies the
// server's certificate up to it; it can then keep that CA (Trust.CA) and
// pin it thereafter.

// CAHashPrefix starts every CA hash.
const CAHashPrefix = "sha256:"

// CAHash returns the hash by which cert is pinned: "sha256:" and the hex
// SHA-256 of its SubjectPublicKeyInfo.
func CAHash(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return CAHashPrefix + hex.EncodeToString(sum[:])
}

// ParseCAHash checks and normalizes a CA hash: "sha256:" (optional) and
// 64 hex digits.
func ParseCAHash(s string) (string, error) {
	h := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), CAHashPrefix))
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA hash %q: want sha256: and 64 hex digits", s)
	}
	return CAHashPrefix + h, nil
}

// EncodeCA returns cert as PEM.
func EncodeCA(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
}

// ParseCA parses the PEM certificates of a CA file; it needs at least one.
func ParseCA(pemData []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, pemData = pem.Decode(pemData)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse CA certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("parse CA certificate: no PEM certificate found")
	}
	return certs, nil
}

// Trust is which servers a client believes: how it verifies an https://
// URL, and whether it may use plain http:// off loopback.
type Trust struct {
	// CA is the PEM of the CA certificates to verify the server's
	// certificate against.
	CA []byte
	// CAHash pins the CA by hash when CA is empty.
	CAHash string
	// TOFU, with neither CA nor CAHash, accepts the CA the server
	// presents (trust on first use); Trust.CA then tells which.
	TOFU bool
	// System, with neither CA nor CAHash, uses the system's roots (a
	// certificate from a public CA).
	System bool
	// InsecureHTTP allows plain http:// to a host that is not loopback:
	// passwords, tokens and secrets then cross the network in clear.
	InsecureHTTP bool
}

// ErrNoTrust is an https:// URL with nothing to verify its server by.
var ErrNoTrust = errors.New("no CA to verify the server's certificate by")

// Verifier verifies servers' certificates by a Trust and remembers the CA
// they chained up to. It is safe for concurrent use.
type Verifier struct {
	trust Trust
	pool  *x509.CertPool // from trust.CA; nil: pinned by hash, TOFU or system

	// mu guards the following.
	mu sync.Mutex
	ca *x509.Certificate
}

// NewVerifier checks t and returns its verifier.
func NewVerifier(t Trust) (*Verifier, error) {
	v := &Verifier{trust: t}
	switch {
	case len(t.CA) > 0:
		certs, err := ParseCA(t.CA)
		if err != nil {
			return nil, err
		}
		v.pool = x509.NewCertPool()
		for _, c := range certs {
			v.pool.AddCert(c)
		}
		if t.CAHash != "" {
			h, err := ParseCAHash(t.CAHash)
			if err != nil {
				return nil, err
			}
			if !hasHash(certs, h) {
				return nil, fmt.Errorf("the CA file's certificate does not have the hash %s", h)
			}
		}
	case t.CAHash != "":
		h, err := ParseCAHash(t.CAHash)
		if err != nil {
			return nil, err
		}
		v.trust.CAHash = h
	}
	return v, nil
}

func hasHash(certs []*x509.Certificate, h string) bool {
	for _, c := range certs {
		if CAHash(c) == h {
			return true
		}
	}
	return false
}

// CA returns the CA the last verified server chained up to (nil: none
// yet, or verified by the system's roots).
func (v *Verifier) CA() *x509.Certificate {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.ca
}

// CheckURL refuses a URL that is neither https:// nor http:// to a
// loopback host (unless the trust allows plain HTTP), and an https:// URL
// with nothing to verify its server by.
func (v *Verifier) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "https":
		if len(v.trust.CA) == 0 && v.trust.CAHash == "" && !v.trust.TOFU && !v.trust.System {
			return fmt.Errorf("%s: %w", raw, ErrNoTrust)
		}
		return nil
	case "http":
		if v.trust.InsecureHTTP || IsLoopbackHost(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s: plain HTTP to a host that is not loopback would send passwords and tokens in clear: use https:// (or --insecure-http)", raw)
	}
	return fmt.Errorf("URL %q: want https://HOST[:PORT]", raw)
}

// IsLoopbackHost says whether host (a name or address, no port) is this
// machine's loopback: "localhost" or a loopback address.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Transport returns an HTTP transport whose TLS connections verify their
// server by v. It uses no proxy: a proxy could not be verified the same
// way.
func (v *Verifier) Transport() *http.Transport {
	return &http.Transport{
		DialTLSContext:        v.dialTLS,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: CentralTimeout,
	}
}

// HTTPClient returns a client that uses v's Transport.
func (v *Verifier) HTTPClient() *http.Client { return &http.Client{Transport: v.Transport()} }

// tlsHandshakeTimeout bounds a TLS handshake with a server.
const tlsHandshakeTimeout = 10 * time.Second

func (v *Verifier) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	raw, err := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	conn := tls.Client(raw, v.ClientConfig(host))
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
}

// ClientConfig returns the TLS configuration that verifies the server
// host (a name or an address) by v.
func (v *Verifier) ClientConfig(host string) *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if v.pool == nil && v.trust.CAHash == "" && !v.trust.TOFU {
		return cfg // the system's roots
	}
	// The chain is verified below, by hand, because a CA pinned by hash
	// comes from the chain itself.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error { return v.verify(cs, host) }
	return cfg
}

// verify verifies a server's chain for host: up to the CA file's
// certificates, or up to the certificate in the chain whose hash is
// pinned, or (TOFU) up to the chain's last CA certificate.
func (v *Verifier) verify(cs tls.ConnectionState, host string) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("the server presented no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	roots := v.pool
	if roots == nil {
		ca, err := v.chainCA(certs)
		if err != nil {
			return err
		}
		roots = x509.NewCertPool()
		roots.AddCert(ca)
	}
	chains, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
	if err != nil {
		return fmt.Errorf("verify the server's certificate: %w", err)
	}
	chain := chains[0]
	v.mu.Lock()
	v.ca = chain[len(chain)-1]
	v.mu.Unlock()
	return nil
}

// chainCA picks the CA certificate to verify certs by from certs itself.
func (v *Verifier) chainCA(certs []*x509.Certificate) (*x509.Certificate, error) {
	var cas []*x509.Certificate
	for _, c := range certs {
		if c.IsCA {
			cas = append(cas, c)
		}
	}
	if v.trust.CAHash != "" {
		var seen []string
		for _, c := range cas {
			h := CAHash(c)
			if h == v.trust.CAHash {
				return c, nil
			}
			seen = append(seen, h)
		}
		if len(seen) == 0 {
			return nil, fmt.Errorf("the server's certificate chain has no CA certificate to match %s (give the CA file instead)", v.trust.CAHash)
		}
		return nil, fmt.Errorf("the server's CA has the fingerprint %s, not the expected %s: refusing it (a wrong fingerprint, or someone in between)", strings.Join(seen, ", "), v.trust.CAHash)
	}
	if len(cas) == 0 {
		return nil, errors.New("the server's certificate chain has no CA certificate to trust on first use")
	}
	return cas[len(cas)-1], nil
}

// JoinToken is a node's registration token as `orbis nodes token` prints
// it: central's one-time secret, a dot, and the hex of central's CA hash,
// so that the node pins central from its first request.
func JoinToken(secret, caHash string) string {
	if caHash == "" {
		return secret
	}
	return secret + "." + strings.TrimPrefix(caHash, CAHashPrefix)
}

// SplitJoinToken splits a JoinToken into the secret and the CA hash ("":
// a token without one, as central itself issues).
func SplitJoinToken(tok string) (secret, caHash string, err error) {
	i := strings.LastIndexByte(tok, '.')
	if i < 0 {
		return tok, "", nil
	}
	h, err := ParseCAHash(tok[i+1:])
	if err != nil {
		return "", "", fmt.Errorf("registration token: after the dot comes central's CA hash: %w", err)
	}
	return tok[:i], h, nil
}
