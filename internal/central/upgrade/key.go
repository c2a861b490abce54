// Package upgrade is central's side of node upgrades: the Ed25519 key
// central signs node agent builds with (made on first start in its data
// directory, like its CA), the one published build and which nodes it is
// offered to, and the handler of the admin's publish call and the nodes'
// calls (see api.UpgradePath for the wire contract).
package upgrade

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// keyFile is the signing key's file in the upgrade directory.
const keyFile = "signing-key.pem"

// loadOrCreateKey reads the signing key kept in dir, making it (mode
// 0600) on first use.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	p := filepath.Join(dir, keyFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return createKey(p)
	}
	if err != nil {
		return nil, fmt.Errorf("upgrade signing key: %w", err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, fmt.Errorf("upgrade signing key %s: no PEM block", p)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("upgrade signing key %s: %w", p, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("upgrade signing key %s: not an Ed25519 key", p)
	}
	return ek, nil
}

func createKey(p string) (ed25519.PrivateKey, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("upgrade signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("upgrade signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := atomicfile.WriteFile(p, data, 0o600); err != nil {
		return nil, fmt.Errorf("upgrade signing key: %w", err)
	}
	return k, nil
}
