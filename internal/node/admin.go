package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
)

// adminShareDir is the host directory of the admin service's socket,
// shown at /run/orbis-admin in the slivers of admin slices.
func adminShareDir(stateDir string) string { return filepath.Join(stateDir, admin.ShareDir) }

// adminShares shows the admin service's directory, read-only, in the
// slivers of slices whose rspec grants Privileges.Admin, and nothing in
// any other sliver.
func adminShares(stateDir string) func(sliver.Spec) []sandbox.Share {
	dir := adminShareDir(stateDir)
	return func(s sliver.Spec) []sandbox.Share {
		if !s.Rspec.Privileges.Admin {
			return nil
		}
		return []sandbox.Share{{Source: dir, Target: admin.SliverDir}}
	}
}

// authorizeAdmin names the slice of a host UID and says whether its
// current rspec grants the admin privilege.
func (n *Node) authorizeAdmin(uid uint32) (string, bool) {
	name, ok := n.Slivers.SliceOfUID(uid)
	if !ok {
		return "", false
	}
	spec, err := n.Slivers.Spec(name)
	if err != nil {
		return name, false
	}
	return name, spec.Rspec.Privileges.Admin
}

// startAdmin serves the admin service on <state>/admin-share/admin.sock
// until ctx ends or the returned function is called. policyCap, when not
// nil, bounds the cap the admin slice may set.
func (n *Node) startAdmin(ctx context.Context, policyCap func() (int64, bool)) (stop func(), err error) {
	cfg := admin.Config{Authorize: n.authorizeAdmin, StateDir: n.cfg.StateDir, PolicyCap: policyCap, Log: n.cfg.Log,
		ActionsRetention: n.cfg.AdminLogRetention, MaxActionsPerMinute: n.cfg.AdminActionsPerMinute}
	if n.net != nil {
		cfg.Stream = n.net.stream
		n.net.adminCap(&cfg)
	}
	svc, err := admin.New(cfg)
	if err != nil {
		return nil, err
	}
	l, err := admin.Listen(filepath.Join(adminShareDir(n.cfg.StateDir), admin.SocketName))
	if err != nil {
		return nil, fmt.Errorf("admin service: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Serve(sctx, l); err != nil {
			n.cfg.Log.Error("admin service stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
