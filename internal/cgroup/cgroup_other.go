//go:build !linux

package cgroup

import (
	"errors"
	"fmt"
	"log/slog"
)

// New fails: control groups exist only on Linux. Use Fake elsewhere.
func New(root, parent string, log *slog.Logger) (Manager, error) {
	return nil, fmt.Errorf("cgroups: %w", errors.ErrUnsupported)
}
