package central

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/pki"
)

// tlsDir is where central keeps the CA and certificate it makes.
func tlsDir(dataDir string) string { return filepath.Join(dataDir, "tls") }

// CAFile is the certificate of the CA central makes in dataDir: clients
// pin it (see docs/deploy.md).
func CAFile(dataDir string) string { return filepath.Join(tlsDir(dataDir), pki.CAFile) }

// scheme is the scheme of central's URL.
func (c *Config) scheme() string {
	if c.PlainHTTP {
		return "http"
	}
	return "https"
}

// checkPlain refuses plain HTTP on an address that is not loopback,
// unless the operator insisted.
func (c *Config) checkPlain() error {
	if !c.PlainHTTP || c.InsecureHTTP {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", c.Addr, err)
	}
	if !api.IsLoopbackHost(host) {
		return fmt.Errorf("plain HTTP on %s, which is not a loopback address, would carry passwords, tokens and the nodes' secrets in clear: serve HTTPS (the default), or give --insecure-http", c.Addr)
	}
	return nil
}

// listenTLS wraps l in TLS with central's certificate: the operator's
// files, or the CA and certificate central makes in its data directory.
func (c *Config) listenTLS(l net.Listener) (net.Listener, *pki.Server, error) {
	tc := c.TLS
	if tc.Dir == "" {
		tc.Dir = tlsDir(c.DataDir)
	}
	if tc.Name == "" {
		tc.Name = "Orbis central CA"
	}
	tc.SANs = pki.SANs(c.Addr, tc.SANs)
	tc.Log = c.Log
	srv, err := pki.Open(tc)
	if err != nil {
		return nil, nil, err
	}
	return tls.NewListener(l, srv.TLSConfig()), srv, nil
}
