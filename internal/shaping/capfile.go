package shaping

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// CapFile is where `orbis node bwcap` leaves the node's cap, under the
// node's state directory: one line, the rate in kbit/s. The directory and
// file are root's; the node agent reads it when it starts and on SIGHUP
// (the admin service, in the agent, tells it a new cap directly).
const CapFile = "net/bwcap"

// ParseRate reads a rate as tc writes them, "100mbit", "500kbit", "1gbit",
// "64000bit" (bits per second, SI prefixes), into kbit/s: api.ParseRate,
// the syntax of the admin service's bwcap call too.
func ParseRate(s string) (int64, error) { return api.ParseRate(s) }

// FormatRate writes kbit/s the way ParseRate reads it.
func FormatRate(kbit int64) string { return api.FormatRate(kbit) }

// WriteCap records the node's cap under stateDir, atomically.
func WriteCap(stateDir string, kbit int64) error {
	path := filepath.Join(stateDir, CapFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write node cap: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(strconv.FormatInt(kbit, 10)+"\n"), 0o644); err != nil {
		return fmt.Errorf("node cap: %w", err)
	}
	return nil
}

// ReadCap returns the cap recorded under stateDir; ok is false if none is.
func ReadCap(stateDir string) (kbit int64, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(stateDir, CapFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read node cap: %w", err)
	}
	kbit, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || kbit <= 0 {
		return 0, false, fmt.Errorf("read node cap %s: not a positive number of kbit/s", filepath.Join(stateDir, CapFile))
	}
	return kbit, true, nil
}
