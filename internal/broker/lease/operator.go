package lease

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// OperatorFile is the name, in the book's directory, of the operator's
// secret: whoever can read it (the broker slice's own users, in its
// sliver) may grant credit and list accounts.
const OperatorFile = "operator.secret"

// LoadOperatorSecret returns the operator's secret kept in dir, making
// one (mode 0600) if there is none. A file that others may read, that is
// not a regular file, or that does not hold a secret is an error.
func LoadOperatorSecret(dir string) (string, error) {
	path := filepath.Join(dir, OperatorFile)
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return newOperatorSecret(dir)
	}
	if err != nil {
		return "", fmt.Errorf("operator secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("operator secret: %w", err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("operator secret %s: mode %v, want a regular file of mode 0600 (chmod 600 it)", path, st.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretLen+2))
	if err != nil {
		return "", fmt.Errorf("operator secret: %w", err)
	}
	secret := strings.TrimSpace(string(data))
	if len(secret) < minSecretLen || len(secret) > maxSecretLen || !hexRE().MatchString(secret) {
		return "", fmt.Errorf("operator secret %s: not %d to %d hex digits (remove it to make a new one)", path, minSecretLen, maxSecretLen)
	}
	return secret, nil
}

// newOperatorSecret writes a new secret to dir, durably, taking the name
// only if no one has (O_EXCL).
func newOperatorSecret(dir string) (string, error) {
	secret := randomHex(tokenBytes)
	path := filepath.Join(dir, OperatorFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return LoadOperatorSecret(dir)
	}
	if err != nil {
		return "", fmt.Errorf("make operator secret: %w", err)
	}
	_, err = f.WriteString(secret + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("make operator secret: %w", err)
	}
	return secret, atomicfile.SyncDir(dir)
}
