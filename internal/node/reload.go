package node

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/orbisproject/orbis/internal/nodemgr"
)

// The files an admin edits by hand for a running node (the local policy,
// and the bandwidth cap `orbis node bwcap` writes from another process)
// are read at start and on SIGHUP only, never polled: edit, then
// `kill -HUP` the agent. Changes made inside the agent (the admin
// service's bwcap) are applied by call, at once.

// reloadOnHUP rereads those files on each SIGHUP until ctx is done.
func (n *Node) reloadOnHUP(ctx context.Context, nm *nodemgr.Manager) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				n.reload(nm.SetPolicy)
			}
		}
	}()
}

// reload rereads the local policy, putting it in force in the node (the
// shaper's bound) and in the node manager through setNM, and the cap
// file. A policy that does not parse leaves the last good one in force.
func (n *Node) reload(setNM func(*nodemgr.Policy)) {
	n.cfg.Log.Info("SIGHUP: reloading the local policy and the bandwidth cap")
	if n.cfg.PolicyPath != "" {
		// Logged by ReloadPolicy; the last good policy stays in force.
		_ = nodemgr.ReloadPolicy(n.cfg.PolicyPath, n.cfg.Log, func(p *nodemgr.Policy) {
			n.setPolicy(p)
			setNM(p)
		})
	}
	if n.net != nil && n.net.shaper != nil {
		n.net.reloadCap(n.cfg.StateDir)
	}
}
