// Package upgrade is central's side of node upgrades: the Ed25519 key
// central signs node agent builds with and the published builds, both
// kept in central's store so that every central process on one database
// offers the same build under the same key; which nodes a build is
// offered to; and the handler of the admin's publish call and the nodes'
// calls (see api.UpgradePath for the wire contract).
package upgrade

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/internal/central/store"
)

// KeyFile is where a central before the store kept its signing key, in
// its upgrade directory: imported into an empty store at start.
const KeyFile = "signing-key.pem"

// loadKey returns the store's signing key. A store without one gets the
// key file in dir, if there is one, else a new key: whichever process
// inserts first wins, and every process reads that one back.
func loadKey(ctx context.Context, archive store.UpgradeArchive, dir string, log *slog.Logger) (ed25519.PrivateKey, error) {
	file, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("upgrade signing key: %w", err)
	}
	stored, err := archive.SigningKey(ctx)
	if errors.Is(err, store.ErrNotFound) {
		offer := string(file)
		if file != nil {
			if _, err := parseKey(file); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, KeyFile), err)
			}
		} else if offer, err = newKey(); err != nil {
			return nil, err
		}
		if stored, err = archive.InitSigningKey(ctx, offer); err != nil {
			return nil, err
		}
		if stored == offer && file != nil {
			log.Info("upgrade signing key imported into the store", "file", filepath.Join(dir, KeyFile))
		}
	} else if err != nil {
		return nil, err
	}
	key, err := parseKey([]byte(stored))
	if err != nil {
		return nil, fmt.Errorf("the store's upgrade signing key: %w", err)
	}
	if file != nil && stored != string(file) {
		if fk, err := parseKey(file); err != nil || !bytes.Equal(fk, key) {
			log.Warn("the upgrade signing key file is not the store's key, which central signs with: nodes that kept the file's public key will refuse builds",
				"file", filepath.Join(dir, KeyFile))
		}
	}
	return key, nil
}

// parseKey reads an Ed25519 private key in PKCS#8 PEM.
func parseKey(data []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, errors.New("not an Ed25519 key")
	}
	return ek, nil
}

// newKey makes a key, in PKCS#8 PEM.
func newKey() (string, error) {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", fmt.Errorf("upgrade signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("upgrade signing key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}
