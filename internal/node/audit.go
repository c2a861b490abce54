package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/orbisproject/orbis/internal/audit"
)

// DefaultAuditAddr is where `orbis node` serves the traffic auditor's
// pages unless told otherwise; a production node serves them on port 80
// (--audit-addr :80), where the paper's outsiders look for them.
const DefaultAuditAddr = "127.0.0.1:8781"

// startAudit records every outgoing packet of the node from the
// administrative sniffer stream and serves the last hour's pages on addr
// (paper 4.4.3). Minutes that close are kept in a bounded spool under the
// state directory until central takes them (not wired yet). An empty addr,
// or a node without the stream, disables it.
func (n *Node) startAudit(ctx context.Context, addr string) (stop func(), err error) {
	if addr == "" || n.net == nil || n.net.stream == nil {
		n.cfg.Log.Info("traffic auditor disabled")
		return func() {}, nil
	}
	spool, err := audit.OpenSpool(filepath.Join(n.cfg.StateDir, "audit"), 0)
	if err != nil {
		return nil, fmt.Errorf("traffic auditor: %w", err)
	}
	log := n.cfg.Log.With("part", "audit")
	a, err := audit.New(audit.Config{Source: n.net.stream, Logger: log,
		Archiver: audit.NewArchiver(n.cfg.Hostname, noArchive{}, spool, 0, log)})
	if err != nil {
		return nil, fmt.Errorf("traffic auditor: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("traffic auditor: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	srv := &http.Server{Handler: audit.NewHandler(a, audit.HandlerConfig{Node: n.cfg.Hostname, Logger: log}),
		ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go a.Run(ctx)
	go srv.Serve(ln)
	n.cfg.Log.Info("traffic auditor listening", "addr", ln.Addr().String())
	return func() { cancel(); srv.Close() }, nil
}

// noArchive stands for central's archive until the node can push to it:
// closed minutes wait in the bounded spool.
type noArchive struct{}

func (noArchive) Push(ctx context.Context, node string, rows []audit.Row) error {
	return errors.New("central's traffic archive is not reachable from nodes yet")
}
