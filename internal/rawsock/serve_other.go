//go:build !linux

package rawsock

import (
	"context"
	"errors"
	"net"
)

// Listen is Linux-only.
func Listen(path string) (net.Listener, error) {
	return nil, errors.New("safe raw sockets need Linux")
}

// Serve is Linux-only.
func Serve(ctx context.Context, l net.Listener, cfg Config) error {
	return errors.New("safe raw sockets need Linux")
}
