//go:build !linux

package disk

import (
	"context"
	"log/slog"
)

// Open returns the "none" mechanism: disk limits need Linux.
func Open(ctx context.Context, stateDir string, opts Options, log *slog.Logger) (Quota, error) {
	log.Warn("disk limits NOT enforced: not Linux")
	return NewNone(stateDir)
}
