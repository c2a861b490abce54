package sshgw

import (
	"context"

	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
)

// SliverManager lets the gateway log into the slivers of a node's sliver
// Manager.
type SliverManager struct{ M *sliver.Manager }

// AuthorizedKeys returns the keys of the slice's users, or an error for a
// sliver that does not exist or is stopped.
func (s SliverManager) AuthorizedKeys(name string) ([]string, error) {
	spec, err := s.M.Login(name)
	if err != nil {
		return nil, err
	}
	return spec.Keys, nil
}

// Exec runs cmd in the sliver.
func (s SliverManager) Exec(ctx context.Context, name string, cmd sandbox.Cmd) (Process, error) {
	p, err := s.M.Exec(ctx, name, cmd)
	if err != nil {
		return nil, err
	}
	return p, nil
}
