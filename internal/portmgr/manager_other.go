//go:build !linux

package portmgr

import (
	"context"
	"errors"
	"io"

	"github.com/orbisproject/orbis/api"
)

// errUnsupported: cgroup BPF is Linux only.
var errUnsupported = errors.New("port manager: Linux only")

// ErrNotPinned is returned by Snapshot when no reservations map is pinned.
var ErrNotPinned = errors.New("no pinned reservations map")

// Manager owns the bind programs and the reservations map (Linux only).
type Manager struct{}

// New fails: the port manager needs Linux.
func New(cfg Config) (*Manager, error) { return nil, errUnsupported }

// LowPorts reports whether owners may bind reserved low ports.
func (m *Manager) LowPorts() bool { return false }

// Reserve fails: the port manager needs Linux.
func (m *Manager) Reserve(ctx context.Context, owner, cgroupPath string, ports []api.Port) error {
	return errUnsupported
}

// Release fails: the port manager needs Linux.
func (m *Manager) Release(owner string) error { return errUnsupported }

// List fails: the port manager needs Linux.
func (m *Manager) List() ([]Entry, error) { return nil, errUnsupported }

// Table fails: the port manager needs Linux.
func (m *Manager) Table(w io.Writer) error { return errUnsupported }

// Close does nothing.
func (m *Manager) Close() error { return nil }

// Detach does nothing.
func (m *Manager) Detach() error { return nil }

// Snapshot fails: the port manager needs Linux.
func Snapshot(pinDir, procRoot string, resolve func(uint32) (string, bool)) ([]Entry, error) {
	return nil, errUnsupported
}

// Holders fails: the port manager needs Linux.
func (m *Manager) Holders() (*Holders, error) { return nil, errUnsupported }

// Claim fails: the port manager needs Linux.
func (m *Manager) Claim(owner string, p api.Port, revoke Revoke) (func(), error) {
	return nil, errUnsupported
}
