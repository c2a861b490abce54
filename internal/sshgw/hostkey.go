package sshgw

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// loadHostKey reads the ed25519 host key at path, or makes one there on
// first start. The key is written to a temporary file of mode 0600 and
// renamed into place, so a crash never leaves half a key.
func loadHostKey(path string) (ssh.Signer, error) {
	if path == "" {
		return nil, errors.New("host key: no path")
	}
	b, err := os.ReadFile(path)
	if err == nil {
		s, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("host key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "orbis ssh gateway")
	if err != nil {
		return nil, fmt.Errorf("make host key: %w", err)
	}
	if err := writeKey(path, pem.EncodeToMemory(block)); err != nil {
		return nil, err
	}
	return ssh.NewSignerFromKey(priv)
}

func writeKey(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write host key: %w", err)
	}
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("host key: %w", err)
	}
	return nil
}
