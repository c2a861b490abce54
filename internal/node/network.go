package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/sliver"
)

// network is the node's network layer as the sliver runtime sees it: the
// port manager (and, as issue 5 proceeds, tagging and shaping). Each part
// is optional: a part the kernel cannot provide is logged at start-up and
// left out, and the rspec fields it would enforce are not enforced.
type network struct {
	ports  *portmgr.Manager
	pinDir string
	log    *slog.Logger
	// detach removes the port manager's kernel state on exit (SuspendOnExit).
	detach bool
}

var _ sliver.Network = (*network)(nil)

// openNetwork starts the node's network layer. cg locates the cgroup v2
// hierarchy the port manager attaches to.
func openNetwork(cfg Config, cg cgroup.Manager) (*network, error) {
	n := &network{log: cfg.Log, detach: cfg.SuspendOnExit}
	root := unifiedRoot(cg, cfg.CgroupParent)
	if root == "" {
		cfg.Log.Warn("no cgroup v2 hierarchy: reserved ports are not enforced")
		return n, nil
	}
	n.pinDir = filepath.Join(portmgr.DefaultPinDir, cfg.CgroupParent)
	pm, err := portmgr.New(portmgr.Config{
		CgroupRoot: root,
		PinDir:     n.pinDir,
		Resolve:    uidResolver(filepath.Join(cfg.StateDir, "slivers")),
		Log:        cfg.Log,
	})
	if err != nil {
		return nil, fmt.Errorf("port manager: %w", err)
	}
	n.ports = pm
	return n, nil
}

// unifiedRoot is the root of the cgroup v2 hierarchy cg's slivers are in,
// or "" when the node has none.
func unifiedRoot(cg cgroup.Manager, parent string) string {
	p := cg.UnifiedPath("probe_probe")
	return strings.TrimSuffix(p, "/"+parent+"/probe_probe")
}

// SetSliver reserves the sliver's ports.
func (n *network) SetSliver(ctx context.Context, s sliver.NetSliver) error {
	if n.ports == nil {
		if len(s.Ports) > 0 {
			return errors.New("ports: this node cannot reserve ports (no cgroup v2 hierarchy)")
		}
		return nil
	}
	return n.ports.Reserve(ctx, s.Name, s.Cgroup, s.Ports)
}

// RemoveSliver frees the sliver's ports.
func (n *network) RemoveSliver(ctx context.Context, name string) error {
	if n.ports == nil {
		return nil
	}
	return n.ports.Release(name)
}

// Close stops the network layer. Reservations stay in the kernel (pinned)
// while slivers may run, unless the node leaves nothing behind.
func (n *network) Close() error {
	if n.ports == nil {
		return nil
	}
	if n.detach {
		err := n.ports.Detach()
		os.Remove(n.pinDir)
		return err
	}
	return n.ports.Close()
}
