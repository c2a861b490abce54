package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// RawListener asks the sliver's running init for a copy of its seccomp
// listener (Config.RawSockets), so that a node agent that restarted while
// the sliver ran can answer its raw socket() calls again. The caller owns
// the file. It returns ErrNotRunning when the sliver has no init.
func RawListener(ctx context.Context, cfg Config) (*os.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conn, err := dialInit(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := send(conn, message{RawListener: true}); err != nil {
		if initGone(err) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("raw socket listener: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()
	m, fds, err := recvCtx(ctx, conn)
	if err != nil {
		closeFDs(fds)
		if errors.Is(err, errPeerClosed) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("raw socket listener: %w", err)
	}
	if !m.OK || len(fds) != 1 {
		closeFDs(fds)
		return nil, fmt.Errorf("raw socket listener: %s", orDefault(m.Error, "malformed reply"))
	}
	return os.NewFile(uintptr(fds[0]), "seccomp-listener"), nil
}
