package nodemgr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
)

// LoadPolicy reads the policy file at path. A missing file is no policy
// (nil, nil): nothing but the node's capacity bounds anyone.
func LoadPolicy(path string) (*Policy, error) {
	data, err := readPolicyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", path, err)
	}
	return p, nil
}

// MaxPolicyBytes bounds the policy file: a policy is a few lines, and the
// node must not read a file of any size into memory.
const MaxPolicyBytes = 1 << 20

// readPolicyFile reads the regular file at path, refusing one over
// MaxPolicyBytes (and a FIFO or device, which could block or never end)
// before reading more than that. Its callers name the file in the error.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0) // a FIFO must not block the open
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPolicyBytes {
		return nil, fmt.Errorf("over %d bytes: not a policy", MaxPolicyBytes)
	}
	return data, nil
}

// ReloadPolicy reads the policy file at path again and gives apply the
// policy it holds. The node reads the file at start (LoadPolicy) and on
// SIGHUP (this), never by polling: the admin edits the file, then signals.
// A file that does not parse, or an empty one, is logged with the line at
// fault and returned as the error, and the last good policy stays in
// force; a removed file lifts the policy.
func ReloadPolicy(path string, log *slog.Logger, apply func(*Policy)) error {
	data, err := readPolicyFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		log.Info("no local policy file: only the node's capacity bounds brokers", "path", path)
		apply(nil)
		return nil
	case err != nil:
		log.Error("read local policy; the last good one stays in force", "path", path, "err", err)
		return fmt.Errorf("policy %s: %w", path, err)
	case len(bytes.TrimSpace(data)) == 0:
		log.Error("local policy file is empty; the last good one stays in force (remove the file to drop the policy)", "path", path)
		return fmt.Errorf("policy %s: empty", path)
	}
	p, err := ParsePolicy(data)
	if err != nil {
		log.Error("local policy does not parse; the last good one stays in force", "path", path, "err", err)
		return fmt.Errorf("policy %s: %w", path, err)
	}
	log.Info("local policy loaded", "path", path, "bandwidth_kbit", p.BandwidthKbit,
		"max_slivers", p.MaxSlivers, "brokers", len(p.Brokers))
	apply(p)
	return nil
}
