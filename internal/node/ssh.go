package node

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/orbisproject/orbis/internal/sshgw"
)

// DefaultSSHAddr is where `orbis node` serves its SSH gateway unless told
// otherwise: loopback port 2222, for development and `orbis dev`. A
// production node sets --ssh-addr :22.
const DefaultSSHAddr = "127.0.0.1:2222"

// startSSH listens on addr and serves the SSH gateway until ctx is done or
// stop is called; stop returns once the gateway is down. An empty addr
// disables the gateway.
func (n *Node) startSSH(ctx context.Context, addr string) (stop func(), err error) {
	if addr == "" {
		n.cfg.Log.Info("ssh gateway disabled")
		return func() {}, nil
	}
	cfg := sshgw.Config{
		HostKeyPath: filepath.Join(n.cfg.StateDir, "ssh", "ssh_host_ed25519_key"),
		Slivers:     sshSlivers{n.Slivers},
		Log:         n.cfg.Log,
		Limits:      n.cfg.SSHLimits,
	}
	if n.net != nil && n.net.tagger != nil {
		// A slice's connection is tagged as its slivers' traffic is.
		cfg.Mark = n.net.tagger.SocketMark
	}
	gw, err := sshgw.New(cfg)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh gateway: %w", err)
	}
	n.cfg.Log.Info("ssh gateway listening", "addr", ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := gw.Serve(ctx, ln); err != nil {
			n.cfg.Log.Error("ssh gateway stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}
