package node

import (
	"context"

	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/sshgw"
)

// sshSlivers lets the SSH gateway log into the slivers of the node's
// sliver Manager (sshgw.Slivers).
type sshSlivers struct{ m *sliver.Manager }

// AuthorizedKeys returns the keys of the slice's users, or an error for a
// sliver that does not exist or is stopped.
func (s sshSlivers) AuthorizedKeys(name string) ([]string, error) {
	spec, err := s.m.Login(name)
	if err != nil {
		return nil, err
	}
	return spec.Keys, nil
}

// Exec runs cmd in the sliver.
func (s sshSlivers) Exec(ctx context.Context, name string, cmd sandbox.Cmd) (sshgw.Process, error) {
	p, err := s.m.Exec(ctx, name, cmd)
	if err != nil {
		return nil, err
	}
	return p, nil
}
