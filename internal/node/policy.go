package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
)

// nmShareDir is the host directory of the node manager's socket for
// slivers, shown at /run/orbis-nm in the slivers of privileged slices.
func nmShareDir(stateDir string) string { return filepath.Join(stateDir, "nm-share") }

// nmSliverDir is where a sliver sees nmShareDir.
var nmSliverDir = filepath.Dir(api.NMSliverSocket)

// sliverShares decides each sliver's shares: the node manager's directory
// for a slice whose rspec grants privileges.node_manager, the admin
// service's for the admin slice, and nothing else. A sliver whose
// privileges change gets or loses them at its next start (the sliver
// runtime restarts it at the update).
func sliverShares(stateDir string) func(sliver.Spec) []sandbox.Share {
	nm, adm := nmShareDir(stateDir), adminShares(stateDir)
	return func(s sliver.Spec) []sandbox.Share {
		var out []sandbox.Share
		if s.Rspec.Privileges.NodeManager {
			out = append(out, sandbox.Share{Source: nm, Target: nmSliverDir})
		}
		return append(out, adm(s)...)
	}
}

// serveSliverNM serves nm on <state>/nm-share/nm.sock, the socket
// privileged slivers reach at /run/orbis-nm/nm.sock. Anyone may connect
// (mode 0666); the node manager authorizes each call by the caller's peer
// credentials alone. It returns once the socket listens.
func serveSliverNM(ctx context.Context, cfg Config, nm *nodemgr.Manager) (stop func(), err error) {
	dir := nmShareDir(cfg.StateDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node manager share: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("node manager share: %w", err)
	}
	l, err := nodemgr.ListenShared(filepath.Join(dir, filepath.Base(api.NMSliverSocket)))
	if err != nil {
		return nil, fmt.Errorf("node manager socket for slivers: %w", err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := nm.Serve(sctx, l); err != nil && sctx.Err() == nil {
			cfg.Log.Error("node manager for slivers stopped", "err", err)
		}
	}()
	cfg.Log.Info("node manager listening for privileged slivers", "socket", l.Addr().String())
	return func() { cancel(); <-done }, nil
}

// loadPolicy reads the local policy once, before the node manager opens.
// A policy that does not parse stops the node: a site's admin finds out
// at once rather than running without the limits they wrote.
func (n *Node) loadPolicy() (*nodemgr.Policy, error) {
	if n.cfg.PolicyPath == "" {
		return nil, nil
	}
	p, err := nodemgr.LoadPolicy(n.cfg.PolicyPath)
	if err != nil {
		return nil, err
	}
	n.setPolicy(p)
	return p, nil
}

// setPolicy records p and hands its bandwidth cap to the shaper.
func (n *Node) setPolicy(p *nodemgr.Policy) {
	n.policy.Store(p)
	if n.net != nil {
		var kbit int64
		if p != nil {
			kbit = p.BandwidthKbit
		}
		n.net.setCapBound(kbit)
	}
}

// policyCap is the local policy's bandwidth cap, if it sets one: the most
// the admin slice may set the node's cap to.
func (n *Node) policyCap() (int64, bool) {
	p := n.policy.Load()
	if p == nil || p.BandwidthKbit <= 0 {
		return 0, false
	}
	return p.BandwidthKbit, true
}
