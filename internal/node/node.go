// Package node is the node agent, `orbis node`: it opens the node's
// resources (reference images, disk quotas, cgroups), the sliver runtime
// and the node manager, and serves the node manager on its Unix socket.
// Restarting it never stops a sliver.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sliver"
)

// Config configures a node. Every root is a parameter so tests can run a
// node in temporary directories.
type Config struct {
	// StateDir holds images, sliver state, disk and node manager records,
	// and the sockets shown to slivers; Open makes it root's alone (mode
	// 0700).
	StateDir string
	// NMSocket is the node manager's Unix socket.
	NMSocket string
	// CgroupRoot is where cgroup file systems are mounted.
	CgroupRoot string
	// CgroupParent is the node's top cgroup; slivers are below it.
	CgroupParent string
	// DefaultImage is the image of a sliver that names none.
	DefaultImage string
	// Disk tunes the disk quota mechanism.
	Disk disk.Options
	// SSHAddr is the SSH gateway's address (see DefaultSSHAddr; ":22" in
	// production); empty disables the gateway.
	SSHAddr string
	// SensorAddr is the sensor server's address (see DefaultSensorAddr);
	// empty disables it.
	SensorAddr string
	// Central is central's URL; Token is a one-time registration token
	// from central. Once registered, the node keeps following central
	// without them.
	Central, Token string
	// CA verifies central at registration when the token carries no CA
	// hash: a PEM file of central's CA, or "system" for a certificate
	// from a CA the system trusts. InsecureHTTP allows plain HTTP to a
	// central that is not loopback.
	CA           string
	InsecureHTTP bool
	// Hostname and IP are what the node registers as (default: the
	// machine's host name; central's view of the address).
	Hostname, IP string
	// UIDBase is the first host UID of the node's slice ranges and
	// UIDRanges how many ranges it hands out (0: the node manager's
	// defaults). Nodes sharing a machine (`orbis testbed`) get disjoint
	// ranges, so that no two slivers share host UIDs.
	UIDBase, UIDRanges uint32
	// SuspendOnExit kills every sliver's processes and removes their
	// cgroups when Run returns, so that nothing of the node is left in
	// the kernel (`orbis dev`). A production node leaves slivers running.
	SuspendOnExit bool
	// Uplink is the interface whose outgoing traffic is shaped (HTB);
	// empty: the default route's; "none": no shaping.
	Uplink string
	// AuditAddr is where the traffic auditor's pages are served ("":
	// none; production: ":80").
	AuditAddr string
	// SniffGroup is the NFLOG group of the administrative sniffer stream
	// (0: DefaultSniffGroup); nodes sharing a network namespace need
	// different groups.
	SniffGroup uint16
	// PortScope is who meets the port manager's reservations: "machine"
	// (or empty), every process on the machine; "node", the node's own
	// slivers only, for several nodes on one machine (a testbed).
	PortScope string
	// PolicyPath is the local policy file (nodemgr.Policy; flag --policy,
	// default /etc/orbis/policy): the node's bandwidth cap, max slivers and
	// each broker's share, reloaded when it changes or on SIGHUP. Empty:
	// no policy.
	PolicyPath string
	// agent is set when the node agent opens the node (Run): only it
	// runs the network layer, not the one-shot verbs (`orbis sliver exec`).
	agent bool
	// Log receives the node's records.
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.StateDir == "" {
		c.StateDir = "/var/lib/orbis"
	}
	if c.NMSocket == "" {
		c.NMSocket = api.NMSocket
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.CgroupParent == "" {
		c.CgroupParent = "orbis"
	}
	if c.DefaultImage == "" {
		c.DefaultImage = "busybox"
	}
}

// Node is an opened node: its resources and its sliver runtime.
type Node struct {
	cfg     Config
	Images  *rootfs.Store
	Disk    disk.Quota
	Slivers *sliver.Manager
	net     *network // nil outside the agent
	// cgroups are the managers whose children are slivers' cgroups.
	cgroups []cgroup.Manager
	// policy is the local policy in force (nil: none).
	policy atomic.Pointer[nodemgr.Policy]
}

// Open opens the node's resources and its sliver runtime, probing what the
// kernel offers and saying clearly what it lacks.
func Open(ctx context.Context, cfg Config) (n *Node, err error) {
	cfg.defaults()
	log := cfg.Log
	if err := secureStateDir(cfg.StateDir, log); err != nil {
		return nil, err
	}
	n = &Node{cfg: cfg, Images: rootfs.NewStore(cfg.StateDir, rootfs.Options{}, log)}
	n.Disk, err = disk.Open(ctx, cfg.StateDir, cfg.Disk, log)
	if err != nil {
		return nil, fmt.Errorf("open node disk: %w", err)
	}
	defer func() {
		if err != nil {
			n.Disk.Close()
		}
	}()
	if !n.Disk.Enforces() {
		log.Warn("disk limits are NOT enforced on this node: rspecs with disk_max are refused", "mechanism", n.Disk.Kind())
	}
	cg, err := cgroup.New(cfg.CgroupRoot, cfg.CgroupParent, log)
	if err != nil {
		return nil, fmt.Errorf("open node cgroups: %w", err)
	}
	fair, err := cgroup.New(cfg.CgroupRoot, cfg.CgroupParent+"/fair", log)
	if err != nil {
		return nil, fmt.Errorf("open node cgroups: %w", err)
	}
	n.cgroups = []cgroup.Manager{cg, fair}
	log.Info("node resources", "cgroups", cg.Mode(), "controllers", cg.Controllers(), "disk", n.Disk.Kind())
	var netw sliver.Network
	if cfg.agent {
		if n.net, err = openNetwork(ctx, cfg, cg); err != nil {
			return nil, err
		}
		netw = n.net
	}
	share := filepath.Join(cfg.StateDir, "share")
	for _, dir := range []string{share, adminShareDir(cfg.StateDir), nmShareDir(cfg.StateDir)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("share directory: %w", err)
		}
	}
	n.Slivers, err = sliver.NewManager(sliver.Options{
		Network:      netw,
		RunShare:     share,
		Shares:       sliverShares(cfg.StateDir),
		StateDir:     filepath.Join(cfg.StateDir, "slivers"),
		Cgroups:      cg,
		Fair:         fair,
		Disk:         n.Disk,
		Images:       n.Images,
		DefaultImage: cfg.DefaultImage,
		NumCPU:       runtime.NumCPU(),
		Log:          log,
	})
	if err != nil {
		return nil, err
	}
	if n.net != nil {
		if err := n.net.startServices(ctx, share, n.Slivers.SliceOfUID); err != nil {
			return nil, err
		}
	}
	if err := n.Slivers.Restore(ctx); err != nil {
		log.Error("restore slivers", "err", err)
	}
	return n, nil
}

// Close releases what Open set up; slivers keep running.
func (n *Node) Close() error {
	var err error
	if n.net != nil {
		err = n.net.Close()
	}
	return errors.Join(err, n.Disk.Close())
}

// capacity is what the node can give to slivers: its memory and the free
// space of its slice storage.
func (n *Node) capacity() (nodemgr.Node, error) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return nodemgr.Node{}, fmt.Errorf("node memory: %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(n.cfg.StateDir, &st); err != nil {
		return nodemgr.Node{}, fmt.Errorf("node disk: %w", err)
	}
	node := nodemgr.Node{
		MemoryBytes: int64(si.Totalram) * int64(si.Unit),
		DiskBytes:   int64(st.Blocks) * st.Bsize,
		// PlanetLab's default disk_max: 10,000,000 KB.
		DefaultDiskMax: 10_000_000 << 10,
		DefaultImage:   n.cfg.DefaultImage,
		NoLowPorts:     n.net == nil || n.net.ports == nil || !n.net.ports.LowPorts(),
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	fmt.Sscan(string(b), &node.EphemeralLow, &node.EphemeralHigh)
	return node, nil
}

// Run opens the node and serves its node manager until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	cfg.agent = true
	n, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	if cfg.SuspendOnExit {
		defer func() {
			if err := n.Slivers.Suspend(context.WithoutCancel(ctx)); err != nil {
				cfg.Log.Error("suspend slivers", "err", err)
			}
			removeParentCgroups(cfg)
		}()
	}
	capa, err := n.capacity()
	if err != nil {
		return err
	}
	stopSSH, err := n.startSSH(ctx, cfg.SSHAddr)
	if err != nil {
		return err
	}
	defer stopSSH()
	stopSensors, err := n.startSensors(ctx, cfg.SensorAddr)
	if err != nil {
		return err
	}
	defer stopSensors()
	stopAudit, err := n.startAudit(ctx, cfg.AuditAddr)
	if err != nil {
		return err
	}
	defer stopAudit()
	policy, err := n.loadPolicy()
	if err != nil {
		return err
	}
	stopAdmin, err := n.startAdmin(ctx, n.policyCap)
	if err != nil {
		return err
	}
	defer stopAdmin()
	nm, err := nodemgr.Open(ctx, nodemgr.Options{
		StateDir:  filepath.Join(cfg.StateDir, "nm"),
		Runtime:   n.Slivers,
		Node:      capa,
		Log:       cfg.Log,
		UIDBase:   cfg.UIDBase,
		UIDRanges: cfg.UIDRanges,
		Policy:    policy,
	})
	if err != nil {
		return fmt.Errorf("open node manager: %w", err)
	}
	defer nm.Close()
	n.watchPolicy(ctx, nm)
	stopSliverNM, err := serveSliverNM(ctx, cfg, nm)
	if err != nil {
		return err
	}
	defer stopSliverNM()
	l, err := nodemgr.Listen(cfg.NMSocket)
	if err != nil {
		return fmt.Errorf("node manager socket: %w", err)
	}
	cfg.Log.Info("node manager listening", "socket", cfg.NMSocket, "state", cfg.StateDir)
	if err := follow(ctx, cfg, n.Slivers); err != nil {
		l.Close()
		return err
	}
	if err := nm.Serve(ctx, l); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// removeParentCgroups removes the node's own cgroups (its parent and the
// fair group) from every hierarchy, once no sliver is left in them.
func removeParentCgroups(cfg Config) {
	hierarchies, _ := os.ReadDir(cfg.CgroupRoot)
	for _, h := range hierarchies {
		base := filepath.Join(cfg.CgroupRoot, h.Name(), cfg.CgroupParent)
		os.Remove(filepath.Join(base, "fair"))
		os.Remove(base)
	}
}
