package nodemgr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"
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
// before reading more than that.
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
		return nil, fmt.Errorf("policy %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxPolicyBytes {
		return nil, fmt.Errorf("policy %s: over %d bytes: not a policy", path, MaxPolicyBytes)
	}
	return data, nil
}

// WatchPolicy loads the policy at path, gives it to apply, and then again
// whenever the file's contents change (looked at every interval) or a
// value arrives on reload (SIGHUP), until ctx is done. A file that does
// not parse is logged with the line at fault and leaves the last good
// policy in force; a removed file lifts the policy.
func WatchPolicy(ctx context.Context, path string, every time.Duration, reload <-chan os.Signal, apply func(*Policy), log *slog.Logger) {
	var last []byte
	first := true
	for {
		data, err := readPolicyFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if first || last != nil {
				log.Info("no local policy file: only the node's capacity bounds brokers", "path", path)
				apply(nil)
			}
			last = nil
		case err != nil:
			log.Error("read local policy; the last good one stays in force", "path", path, "err", err)
		case len(bytes.TrimSpace(data)) == 0:
			if !bytes.Equal(data, last) {
				log.Error("local policy file is empty; the last good one stays in force (remove the file to drop the policy)", "path", path)
			}
			last = data
		case first || last == nil || !bytes.Equal(data, last):
			if !first && !settled(path, data) {
				break // being written: look again next round
			}
			last = data
			if p, err := ParsePolicy(data); err != nil {
				log.Error("local policy does not parse; the last good one stays in force", "path", path, "err", err)
			} else {
				log.Info("local policy loaded", "path", path, "bandwidth_kbit", p.BandwidthKbit,
					"max_slivers", p.MaxSlivers, "brokers", len(p.Brokers))
				apply(p)
			}
		}
		first = false
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		case <-reload:
			last = nil // reread even if unchanged
		}
	}
}

// policySettle is how long a changed policy file must stay the same before
// it is applied, so that a file caught in the middle of a write (an editor
// that truncates and rewrites in place) is not taken for a laxer policy.
const policySettle = 200 * time.Millisecond

// settled reports whether the file at path still holds data after
// policySettle.
func settled(path string, data []byte) bool {
	time.Sleep(policySettle)
	again, err := readPolicyFile(path)
	return err == nil && bytes.Equal(again, data)
}
