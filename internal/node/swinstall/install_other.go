//go:build !linux

package swinstall

import (
	"context"
	"errors"
	"time"

	"github.com/orbisproject/orbis/internal/manifest"
)

var errUnsupported = errors.New("software install needs Linux")

// DefaultHookTimeout bounds the update hook.
const DefaultHookTimeout = 60 * time.Second

func installTree(context.Context, Slivers, string, string, *manifest.Manifest, *manifest.Manifest, *Cache, func()) error {
	return errUnsupported
}

func runHook(context.Context, Slivers, string, string, string, time.Duration) (int, string, error) {
	return -1, "", errUnsupported
}
