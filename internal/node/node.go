// Package node is the node agent, `orbis node`: it opens the node's
// resources (reference images, disk quotas, cgroups), the sliver runtime
// and the node manager, and serves the node manager on its Unix socket.
// Restarting it never stops a sliver.
package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/rawsock"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/sshgw"
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
	// InitLinger is how long a sliver's init with no command left waits
	// for another before the sliver goes idle (see DefaultInitLinger).
	InitLinger time.Duration
	// Disk tunes the disk quota mechanism.
	Disk disk.Options
	// SSHAddr is the SSH gateway's address (see DefaultSSHAddr; ":22" in
	// production); empty disables the gateway.
	SSHAddr string
	// SSHLimits bound what SSH clients can hold of the gateway (zero
	// fields: sshgw.DefaultLimits; flags --ssh-*).
	SSHLimits sshgw.Limits
	// SensorAddr is the sensor server's address (see DefaultSensorAddr);
	// empty disables it. SensorConns and SensorConnsPerClient bound its
	// connections, in all and per client (0: sensor.DefaultMaxConns,
	// sensor.DefaultMaxConnsPerClient).
	SensorAddr                        string
	SensorConns, SensorConnsPerClient int
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
	// each broker's share, read at start and on SIGHUP (never polled).
	// Empty: no policy.
	PolicyPath string
	// RawSock bounds the safe raw socket service (flags --rawsock-*; zero
	// fields: rawsock's defaults).
	RawSock rawsock.Limits
	// RawSocketsPerSlice is the most raw sockets one sliver may hold
	// through socket(2) (flag --raw-sockets-per-slice; 0:
	// rawfd.DefaultMaxPerSlice; -1: none, the raw socket service only).
	RawSocketsPerSlice int
	// PacketSocketsPerSlice is the most of those that may be packet
	// sockets (flag --packet-sockets-per-slice; 0:
	// rawfd.DefaultMaxPacketPerSlice).
	PacketSocketsPerSlice int
	// RawSocketCallsPerSec bounds the raw socket() calls of one sliver
	// the agent answers a second (flag --raw-socket-calls-per-sec; 0:
	// rawfd.DefaultCallsPerSec).
	RawSocketCallsPerSec int
	// PacketRingMax bounds the bytes of the receive rings of all the
	// packet sockets of one sliver (flag --packet-ring-max-mib; 0:
	// rawfd.DefaultMaxPacketRing).
	PacketRingMax int64
	// MaxSocketsPerSlice is the most IPv4 and IPv6 sockets, and so ports,
	// one sliver may hold at once (flag --max-sockets-per-slice; 0:
	// portmgr.DefaultMaxSockets).
	MaxSocketsPerSlice int
	// AdminLogRetention and AdminActionsPerMinute are the admin service's
	// admin.Config.ActionsRetention and MaxActionsPerMinute (flags
	// --admin-log-retention, --admin-actions-per-minute; 0: the default).
	AdminLogRetention     time.Duration
	AdminActionsPerMinute int
	// UpgradeCheck is how long the agent waits to ask central for an
	// upgrade again after a failed call, or between calls to a central
	// that does not hold them; UpgradeHealthTimeout is how long a new
	// agent has to become healthy before it is rolled back (flags
	// --upgrade-check, --upgrade-health-timeout; 0: the defaults).
	// NoUpgrade turns upgrades off (`orbis dev`, tests).
	UpgradeCheck, UpgradeHealthTimeout time.Duration
	NoUpgrade                          bool
	// upgrader checks for upgrades while the agent follows central.
	upgrader *upgrader
	// agent is set when the node agent opens the node (Run): only it
	// runs the network layer, not the one-shot verbs (`orbis sliver exec`).
	agent bool
	// Version is this agent's version, which it reports to central when
	// it registers and when it asks for an upgrade (default "dev").
	Version string
	// Log receives the node's records.
	Log *slog.Logger
}

// DefaultInitLinger is the default of --init-linger (Config.InitLinger):
// long enough for a script's next command, short enough that idle slivers
// soon hold no process.
const DefaultInitLinger = time.Second

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
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Node is an opened node: its resources and its sliver runtime.
type Node struct {
	cfg     Config
	Images  *rootfs.Store
	Disk    disk.Quota
	Slivers *sliver.Manager
	net     *network   // nil outside the agent
	raw     *kernelRaw // nil: slivers have no raw sockets through socket(2)
	// cgroups are the managers whose children are slivers' cgroups.
	cgroups []cgroup.Manager
	// policy is the local policy in force (nil: none).
	policy atomic.Pointer[nodemgr.Policy]
	// diskFull is why the node takes no new sliver for lack of disk
	// ("": it does), as last checked (watchDisk).
	diskFull atomic.Pointer[string]
	// book is the traffic auditor's slice book (nil: no auditor), set
	// before the resource manager starts.
	book *sliceBook
}

// Open opens the node's resources and its sliver runtime, probing what the
// kernel offers and saying clearly what it lacks. If it fails, it says why
// and leaves nothing it made behind (see abort). Outside the agent (a
// command such as orbis sliver exec) it restores no sliver: the command
// revives the one it runs in (sliver.Manager.Revive).
func Open(ctx context.Context, cfg Config) (*Node, error) {
	cfg.defaults()
	if err := secureStateDir(cfg.StateDir, cfg.Log); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, Images: rootfs.NewStore(cfg.StateDir, rootfs.Options{}, cfg.Log)}
	if err := n.open(ctx); err != nil {
		n.abort()
		return nil, err
	}
	return n, nil
}

// open opens each part of n in turn; abort undoes what it opened.
func (n *Node) open(ctx context.Context) error {
	cfg, log := n.cfg, n.cfg.Log
	dq, err := disk.Open(ctx, cfg.StateDir, cfg.Disk, log)
	if err != nil {
		return fmt.Errorf("open node disk: %w", err)
	}
	n.Disk = dq
	if !n.Disk.Enforces() {
		log.Warn("disk limits are NOT enforced on this node: rspecs with disk_max are refused", "mechanism", n.Disk.Kind())
	}
	cg, err := cgroup.New(cfg.CgroupRoot, cfg.CgroupParent, log)
	if err != nil {
		return fmt.Errorf("open node cgroups: %w", err)
	}
	fair, err := cgroup.New(cfg.CgroupRoot, cfg.CgroupParent+"/fair", log)
	if err != nil {
		return fmt.Errorf("open node cgroups: %w", err)
	}
	n.cgroups = []cgroup.Manager{cg, fair}
	log.Info("node resources", "cgroups", cg.Mode(), "controllers", cg.Controllers(), "disk", n.Disk.Kind())
	var netw sliver.Network
	if cfg.agent {
		if n.net, err = openNetwork(ctx, cfg, cg); err != nil {
			return err
		}
		netw = n.net
		n.raw = openKernelRaw(cfg, n.net)
	}
	share := filepath.Join(cfg.StateDir, "share")
	for _, dir := range []string{share, adminShareDir(cfg.StateDir), nmShareDir(cfg.StateDir)} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("share directory: %w", err)
		}
	}
	n.Slivers, err = sliver.NewManager(sliver.Options{
		Network:      netw,
		RunShare:     share,
		Shares:       sliverShares(cfg.StateDir),
		StateDir:     filepath.Join(cfg.StateDir, "slivers"),
		RunDir:       sliverRunDir(cfg.CgroupParent),
		Cgroups:      cg,
		Fair:         fair,
		Disk:         n.Disk,
		Images:       n.Images,
		DefaultImage: cfg.DefaultImage,
		InitLinger:   cfg.InitLinger,
		WarmAttach:   warmAttachFunc(cfg, cg),
		RawSockets:   n.raw.serveFunc(),
		NumCPU:       runtime.NumCPU(),
		Log:          log,
	})
	if err != nil {
		return err
	}
	if n.net != nil {
		if err := n.net.startServices(ctx, share, n.Slivers.SliceOfUID); err != nil {
			return err
		}
	}
	if !cfg.agent {
		return nil // a command revives the one sliver it runs in (sliver.Manager.Revive)
	}
	if err := n.Slivers.Restore(ctx); err != nil {
		log.Error("restore slivers", "err", err)
	} else if n.net != nil && n.net.shaper != nil {
		// Every sliver kept has claimed its classes: the rest are of
		// slivers that went while no agent ran.
		if err := n.net.shaper.Prune(ctx); err != nil {
			log.Error("shaping", "err", err)
		}
	}
	return nil
}

// Close releases what Open set up; slivers keep running.
func (n *Node) Close() error {
	var err error
	if n.net != nil {
		err = n.raw.Close(n.net.detach)
		err = errors.Join(err, n.net.Close())
	}
	if n.Disk != nil {
		err = errors.Join(err, n.Disk.Close())
	}
	return err
}

// abort undoes a start-up that failed part way. What running slivers
// still need (their packets' tagging, their reserved ports, their disk and
// cgroups) stays, as at any exit of the agent; on a node without slivers,
// or one that leaves nothing behind (SuspendOnExit), nothing stays: no nft
// table, pinned BPF program, mount or cgroup of the node's.
func (n *Node) abort() {
	keep := keepOnFailure(n.cfg)
	if n.net != nil && !keep {
		n.net.detach = true
	}
	if err := n.Close(); err != nil {
		n.cfg.Log.Error("undo a failed start", "err", err)
	}
	if !keep {
		removeParentCgroups(n.cfg)
	}
}

// keepOnFailure reports whether a failed start-up of the node of cfg
// keeps the kernel state its slivers need: it does when the node has
// slivers, which may be running, and does not leave nothing behind at
// exit (SuspendOnExit).
func keepOnFailure(cfg Config) bool {
	return !cfg.SuspendOnExit && hasSlivers(cfg.StateDir)
}

// hasSlivers reports whether the node keeps any sliver's state (a sliver
// that may be running); when it cannot tell, it says yes.
func hasSlivers(stateDir string) bool {
	ents, err := os.ReadDir(filepath.Join(stateDir, "slivers"))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || len(ents) > 0
}

// capacity is what the node can give to slivers: its memory and the free
// space of its slice storage.
func (n *Node) capacity() (nodemgr.Node, error) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return nodemgr.Node{}, fmt.Errorf("node memory: %w", err)
	}
	_, size, err := disk.Statfs(n.cfg.StateDir)
	if err != nil {
		return nodemgr.Node{}, fmt.Errorf("node disk: %w", err)
	}
	node := nodemgr.Node{
		MemoryBytes: int64(si.Totalram) * int64(si.Unit),
		DiskBytes:   size,
		// PlanetLab's default disk_max: 10,000,000 KB.
		DefaultDiskMax: 10_000_000 << 10,
		DefaultImage:   n.cfg.DefaultImage,
		NoLowPorts:     n.net == nil || n.net.ports == nil || !n.net.ports.LowPorts(),
	}
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	fmt.Sscan(string(b), &node.EphemeralLow, &node.EphemeralHigh)
	return node, nil
}

// runAgent opens the node and serves its node manager until ctx is done.
// A start-up that fails returns why and leaves nothing half-made (abort).
func runAgent(ctx context.Context, cfg Config) error {
	cfg.defaults()
	cfg.agent = true
	unlock, err := lockParent(cfg.CgroupParent)
	if err != nil {
		return err
	}
	defer unlock()
	n, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	serving := false
	defer func() {
		if !serving {
			n.abort()
		} else if err := n.Close(); err != nil {
			cfg.Log.Error("close node", "err", err)
		}
	}()
	if cfg.SuspendOnExit {
		defer func() {
			if cfg.upgrader.installed() {
				return // the agent goes on as its new version
			}
			if err := n.Slivers.Suspend(context.WithoutCancel(ctx)); err != nil {
				cfg.Log.Error("suspend slivers", "err", err)
			}
			removeParentCgroups(cfg)
			// No sliver runs: their run directories (on /run) go too.
			if err := os.RemoveAll(filepath.Dir(sliverRunDir(cfg.CgroupParent))); err != nil {
				cfg.Log.Error("remove the slivers' run directories", "err", err)
			}
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
	n.watchDisk(ctx)
	nm, err := nodemgr.Open(ctx, nodemgr.Options{
		StateDir:  filepath.Join(cfg.StateDir, "nm"),
		Runtime:   n.Slivers,
		Node:      capa,
		Log:       cfg.Log,
		UIDBase:   cfg.UIDBase,
		UIDRanges: cfg.UIDRanges,
		// No two nodes on this machine ever share a range.
		UIDClaimDir: nodemgr.DefaultUIDClaimDir,
		Policy:      policy,
		Full:        n.fullReason,
	})
	if err != nil {
		return fmt.Errorf("open node manager: %w", err)
	}
	defer nm.Close()
	n.reloadOnHUP(ctx, nm)
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
	if err := follow(ctx, cfg, n.Slivers, n.learnList); err != nil {
		l.Close()
		return err
	}
	serving = true
	if err := nm.Serve(ctx, l); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// RunDir holds a lock for each running node agent, named after its
// cgroup parent, and its slivers' run directories.
const RunDir = "/run/orbis"

// lockPath is the lock file of the node agent with cgroup parent parent.
func lockPath(parent string) string {
	return filepath.Join(RunDir, "node-"+strings.ReplaceAll(parent, "/", "_")+".lock")
}

// lockParent takes the machine-wide lock of the cgroup parent, which also
// names the node's nft table and pinned BPF programs: a second agent with
// the same parent would take them over, and its failed start would remove
// them from under the first. The lock file goes with the lock.
func lockParent(parent string) (unlock func(), err error) {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("node lock: %w", err)
	}
	p := lockPath(parent)
	for {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("node lock: %w", err)
		}
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("another Orbis node on this machine runs with cgroup parent %q, which names its cgroups, nft table and pinned programs: stop it, or give this node another with --cgroup-parent", parent)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("node lock %s: %w", p, err)
		}
		if sameFile(f, p) { // else its holder removed it as we opened it
			return func() { os.Remove(p); f.Close() }, nil
		}
		f.Close()
	}
}

// sameFile reports whether path names the file f has open.
func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

// sliverRunDir holds the run directories of the slivers of the node of
// parent, on /run: logging in to a sliver writes there, never on the state
// disk, which may be full.
func sliverRunDir(parent string) string {
	return filepath.Join(RunDir, parent, "slivers")
}

// removeParentCgroups removes the node's own cgroups (its parent and the
// fair group) from every hierarchy (v1 ones and a hybrid's v2 tree below
// the cgroup root, or the root itself on pure v2), once no sliver is left
// in them.
func removeParentCgroups(cfg Config) {
	hierarchies, _ := os.ReadDir(cfg.CgroupRoot)
	bases := []string{filepath.Join(cfg.CgroupRoot, cfg.CgroupParent)}
	for _, h := range hierarchies {
		bases = append(bases, filepath.Join(cfg.CgroupRoot, h.Name(), cfg.CgroupParent))
	}
	for _, base := range bases {
		os.Remove(filepath.Join(base, "fair"))
		os.Remove(base)
	}
	// With the cgroups goes the run directory, once no sliver has one.
	os.Remove(sliverRunDir(cfg.CgroupParent))
	os.Remove(filepath.Dir(sliverRunDir(cfg.CgroupParent)))
}
