//go:build !linux

package sandbox

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"syscall"
)

var errUnsupported = errors.New("sandbox: slivers need Linux")

// Process is a command running in a sliver.
type Process struct {
	// Pid is the command's pid on the host.
	Pid int
}

// Wait waits for the command to exit.
func (p *Process) Wait() (int, error) { return -1, errUnsupported }

// Signal sends sig to the command.
func (p *Process) Signal(sig syscall.Signal) error { return errUnsupported }

// Terminal returns the master of the command's terminal.
func (p *Process) Terminal() *os.File { return nil }

// SignalGroup sends sig to the command's process group.
func (p *Process) SignalGroup(sig syscall.Signal) error { return errUnsupported }

// Prepare makes the host-side directories of a sliver.
func Prepare(cfg Config) error { return errUnsupported }

// Start runs cmd in the sliver, starting its init if needed.
func Start(ctx context.Context, cfg Config, cmd Cmd, log *slog.Logger) (*Process, error) {
	return nil, errUnsupported
}

// Exec runs cmd in the sliver's running init.
func Exec(ctx context.Context, cfg Config, cmd Cmd, log *slog.Logger) (*Process, error) {
	return nil, errUnsupported
}

// InstallFiles writes files into the sliver.
func InstallFiles(ctx context.Context, cfg Config, files []File) error { return errUnsupported }

// InitPid returns the host pid of the sliver's init.
func InitPid(cfg Config) (int, bool) { return 0, false }

// Stop kills every process of the sliver.
func Stop(ctx context.Context, cfg Config) error { return errUnsupported }

// KeptCaps returns the capability mask of a sliver's root.
func KeptCaps() uint64 { return 0 }

// RawNotifySupported reports whether slivers' raw sockets can be handed
// to the node: never here.
func RawNotifySupported() bool { return false }

// RawListener returns the sliver's seccomp listener.
func RawListener(ctx context.Context, cfg Config) (*os.File, error) { return nil, errUnsupported }
