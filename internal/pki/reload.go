package pki

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// reloadCheck is how often, at most, a Reloader looks at its files.
const reloadCheck = time.Second

// Reloader serves a certificate from files and loads them again when they
// change (a renewal by certbot, say), without a restart. A change that
// does not load (a half-written pair) keeps the old certificate, logged,
// and is tried again at the next check.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	// mu guards the following.
	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and modification times when loaded
	checked time.Time
}

// NewReloader loads the pair of files, which must load now.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := r.fileStamp()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	r.cert, r.stamp, r.checked = &cert, stamp, time.Now()
	return r, nil
}

// GetCertificate is a tls.Config's GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= reloadCheck {
		r.checked = time.Now()
		r.reloadLocked()
	}
	return r.cert, nil
}

// reloadLocked loads the files again if they changed.
func (r *Reloader) reloadLocked() {
	stamp, err := r.fileStamp()
	if err != nil || stamp == r.stamp {
		return
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Warn("TLS certificate changed but does not load; serving the old one", "cert", r.certFile, "err", err)
		return
	}
	r.cert, r.stamp = &cert, stamp
	r.log.Info("TLS certificate reloaded", "cert", r.certFile)
}

func (r *Reloader) fileStamp() (string, error) {
	var s string
	for _, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return "", fmt.Errorf("TLS certificate: %w", err)
		}
		s += fmt.Sprintf("%d/%d ", fi.Size(), fi.ModTime().UnixNano())
	}
	return s, nil
}
