// Package dev is `orbis dev`: central on embedded SQLite and a node agent
// on this one machine, registered to it, with a reference image, an SSH
// gateway and a bootstrap admin, ready for a newcomer to use.
package dev

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/rootfs"
)

// Config configures a dev platform.
type Config struct {
	// DataDir holds central's database, admin.json and the node's state.
	DataDir string
	// Addr is central's address; SSHAddr the node's SSH gateway's;
	// SensorAddr its sensor server's; AuditAddr its traffic auditor's.
	Addr, SSHAddr, SensorAddr, AuditAddr string
	// NMSocket is the node manager's socket.
	NMSocket string
	// Hostname is the node's name at central.
	Hostname string
	// CgroupParent is the node's top cgroup (default "orbis").
	CgroupParent string
	// Uplink is the interface the node shapes ("none": none, the default
	// for a developer's machine).
	Uplink string
	// SniffGroup is the NFLOG group of the node's administrative sniffer
	// (0: node.DefaultSniffGroup).
	SniffGroup uint16
	// Version is this build's version, which the node reports to central.
	Version string
	// Out receives the instructions for a person; Log the records.
	Out io.Writer
	Log *slog.Logger
}

// Site is the login_base of the site dev makes for its node and slices.
const Site = "dev"

// AdminEmail is the bootstrap admin's email.
const AdminEmail = "admin@orbis.dev"

// Run runs central and the node until ctx is done; then it stops both and
// leaves no kernel object behind. Its state stays in DataDir, where the
// next run finds it.
func Run(ctx context.Context, cfg Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	// Central speaks plain HTTP, which Open allows on loopback only: dev
	// is one machine's platform.
	c, err := central.Open(ctx, central.Config{Addr: cfg.Addr, DataDir: cfg.DataDir, AdminEmail: AdminEmail, PlainHTTP: true,
		Log: cfg.Log.With("part", "central")})
	if err != nil {
		return err
	}
	defer c.Close()
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("central: %w (is another orbis dev or central running?)", err)
	}
	cctx, stopCentral := context.WithCancel(ctx)
	centralDone := make(chan error, 1)
	go func() { centralDone <- c.Serve(cctx, l) }()
	defer func() { stopCentral(); <-centralDone }()

	url := "http://" + l.Addr().String()
	adm, err := readAdmin(cfg.DataDir)
	if err != nil {
		return err
	}
	nodeDir := filepath.Join(cfg.DataDir, "node")
	token, err := nodeToken(ctx, url, adm, nodeDir, cfg.Hostname)
	if err != nil {
		return err
	}
	if err := ensureImage(ctx, nodeDir, cfg.Out, cfg.Log); err != nil {
		return err
	}
	ncfg := node.Config{StateDir: nodeDir, NMSocket: cfg.NMSocket, SSHAddr: cfg.SSHAddr, SensorAddr: cfg.SensorAddr, AuditAddr: cfg.AuditAddr, Central: url,
		Token: token, Hostname: cfg.Hostname, CgroupParent: cfg.CgroupParent, Uplink: cfg.Uplink, SniffGroup: cfg.SniffGroup, SuspendOnExit: true, Version: cfg.Version,
		Log: cfg.Log.With("part", "node")}
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(ctx, ncfg) }()
	select {
	case err := <-nodeDone:
		return fmt.Errorf("node: %w", err)
	case <-time.After(time.Second):
	}
	printWelcome(cfg, url, adm)
	var nodeErr error
	select {
	case nodeErr = <-nodeDone:
	case err := <-centralDone:
		if ctx.Err() == nil {
			return fmt.Errorf("central stopped: %v", err)
		}
		centralDone <- err
		nodeErr = <-nodeDone // the node suspends its slivers on its way out
	}
	if nodeErr != nil && ctx.Err() == nil {
		return fmt.Errorf("node: %w", nodeErr)
	}
	fmt.Fprintln(cfg.Out, "orbis dev: stopped; state kept in", cfg.DataDir)
	return nil
}

func readAdmin(dir string) (central.Admin, error) {
	var adm central.Admin
	b, err := os.ReadFile(central.AdminFile(dir))
	if err != nil {
		return adm, fmt.Errorf("bootstrap admin: %w", err)
	}
	return adm, json.Unmarshal(b, &adm)
}

// nodeToken makes the dev site and this machine's node record at central,
// and returns a registration token for it, unless the node registered in
// an earlier run.
func nodeToken(ctx context.Context, url string, adm central.Admin, nodeDir, host string) (string, error) {
	if _, ok, err := rm.LoadCredentials(filepath.Join(nodeDir, "rm")); err != nil || ok {
		return "", err
	}
	rpc := xmlrpc.NewClient(url + "/PLCAPI/")
	auth := xmlrpc.PasswordAuth(adm.Email, adm.Password)
	call := func(method string, args ...any) (any, error) {
		return rpc.Call(ctx, method, append([]any{auth}, args...)...)
	}
	sites, err := call("GetSites", map[string]any{"login_base": Site}, []any{"site_id"})
	if err != nil {
		return "", err
	}
	var site any
	if l, _ := sites.([]any); len(l) == 1 {
		site = l[0].(map[string]any)["site_id"]
	} else if site, err = call("AddSite", map[string]any{"name": "Orbis dev", "abbreviated_name": "dev",
		"login_base": Site, "enabled": true, "max_slices": 100}); err != nil {
		return "", err
	}
	nodes, err := call("GetNodes", map[string]any{"hostname": host}, []any{"node_id"})
	if err != nil {
		return "", err
	}
	var id any
	if l, _ := nodes.([]any); len(l) == 1 {
		id = l[0].(map[string]any)["node_id"]
	} else if id, err = call("AddNode", site, map[string]any{"hostname": host}); err != nil {
		return "", err
	}
	tok, err := call("AddNodeToken", id)
	if err != nil {
		return "", err
	}
	s, _ := tok.(string)
	if s == "" {
		return "", errors.New("central gave no node token")
	}
	return s, nil
}

// ensureImage builds the busybox reference image once.
func ensureImage(ctx context.Context, nodeDir string, out io.Writer, log *slog.Logger) error {
	images := rootfs.NewStore(nodeDir, rootfs.Options{}, log)
	if _, err := images.Get("busybox"); err == nil {
		return nil
	}
	fmt.Fprintln(out, "orbis dev: building the busybox reference image")
	_, err := images.Build(ctx, "busybox", rootfs.KindBusybox, out)
	return err
}

func printWelcome(cfg Config, url string, adm central.Admin) {
	fmt.Fprintf(cfg.Out, `
Orbis dev is running (Ctrl-C stops it).
  central      %[1]s   (PLCAPI: %[1]s/PLCAPI/  JSON API: %[1]s/api/v1/)
  admin        %[2]s  password %[3]s  (also in %[4]s)
  node         %[5]s at site %[6]q, node manager %[7]s
  SSH gateway  %[8]s
  sensors      http://%[10]s/   (CSV: /slices, /load, /meminfo, /nodes/ip/name ...)
  sensor page  http://%[10]s/   in a browser: the node's load and the slices' CPU and traffic, plotted
  traffic      http://%[11]s/   (the last hour's outgoing traffic by destination and slice)
  archive      %[1]s/audit/   (central: which slices sent traffic to an address, older than the hour)

Next, in another shell (bin/orbis if it is not on your PATH):
  orbis login --central %[1]s --user %[2]s       # the password above
  orbis key add %[2]s ~/.ssh/id_ed25519.pub       # ssh-keygen -t ed25519 if you have none
  orbis slice create %[6]s_hello --description "my first slice" --url http://example.org
  orbis slice add-user %[6]s_hello %[2]s
  orbis slice add-nodes %[6]s_hello %[5]s
  ssh -p %[9]s %[6]s_hello@127.0.0.1
`, url, adm.Email, adm.Password, central.AdminFile(cfg.DataDir), cfg.Hostname, Site, cfg.NMSocket, cfg.SSHAddr, port(cfg.SSHAddr), cfg.SensorAddr, cfg.AuditAddr)
}

func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "22"
	}
	return p
}
