package node

import (
	"context"
	"fmt"
	"log/slog"
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
// (paper 4.4.3). Minutes that close are pushed to central's archive over
// the node channel; while central is unreachable, or the node follows
// none, they wait in a bounded spool under the state directory. An empty
// addr, or a node without the stream, disables it.
func (n *Node) startAudit(ctx context.Context, addr string) (stop func(), err error) {
	if addr == "" || n.net == nil || n.net.stream == nil {
		n.cfg.Log.Info("traffic auditor disabled")
		return func() {}, nil
	}
	s, err := serveAudit(ctx, auditSetup{Source: n.net.stream, Addr: addr, StateDir: n.cfg.StateDir,
		Hostname: n.cfg.Hostname, Log: n.cfg.Log})
	if err != nil {
		return nil, err
	}
	n.book = s.book
	return s.stop, nil
}

// auditSetup is what serveAudit needs.
type auditSetup struct {
	Source   audit.Source
	Addr     string
	StateDir string // the spool, the slice book, and rm/ (central's credentials and list)
	Hostname string
	Log      *slog.Logger
	// Now is the auditor's clock (tests); nil means time.Now.
	Now func() time.Time
}

// auditServer is a running auditor and its pages.
type auditServer struct {
	auditor *audit.Auditor
	addr    string     // where the pages listen
	book    *sliceBook // the slices the pages name; learns each new sliver list
	stop    func()
}

// serveAudit starts the auditor over o.Source, archiving to central, and
// serves its pages on o.Addr.
func serveAudit(ctx context.Context, o auditSetup) (*auditServer, error) {
	spool, err := audit.OpenSpool(filepath.Join(o.StateDir, "audit"), 0)
	if err != nil {
		return nil, fmt.Errorf("traffic auditor: %w", err)
	}
	log := o.Log.With("part", "audit")
	rmDir := filepath.Join(o.StateDir, "rm")
	a, err := audit.New(audit.Config{Source: o.Source, Logger: log, Now: o.Now,
		Archiver: audit.NewArchiver(o.Hostname, newCentralArchive(rmDir, log), spool, 0, log)})
	if err != nil {
		spool.Close()
		return nil, fmt.Errorf("traffic auditor: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", o.Addr)
	if err != nil {
		spool.Close()
		return nil, fmt.Errorf("traffic auditor: %w", err)
	}
	book := openSliceBook(rmDir, filepath.Join(o.StateDir, "audit-slices.json"), 0, o.Now, log)
	ctx, cancel := context.WithCancel(ctx)
	srv := &http.Server{Handler: audit.NewHandler(a, audit.HandlerConfig{Node: o.Hostname, Logger: log,
		ArchiveURLFunc: func() string { return archiveURL(rmDir) }, Slices: book}),
		ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go a.Run(ctx)
	go srv.Serve(ln)
	o.Log.Info("traffic auditor listening", "addr", ln.Addr().String())
	stop := func() { cancel(); srv.Close() }
	return &auditServer{auditor: a, addr: ln.Addr().String(), book: book, stop: stop}, nil
}
