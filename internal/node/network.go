package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/netfilter"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/rawsock"
	"github.com/orbisproject/orbis/internal/shaping"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/sniff"
)

// network is the node's network layer as the sliver runtime sees it: the
// tagging of slivers' packets, HTB shaping of the uplink, and the port
// manager. Each part is optional: a part the kernel cannot provide is
// logged at start-up and left out, and the rspec fields it would enforce
// are not enforced.
type network struct {
	ports  *portmgr.Manager
	pinDir string
	tagger *netfilter.Tagger
	shaper *shaping.Shaper    // nil: the uplink is not shaped
	stream *sniff.Stream      // every outgoing packet with its slice
	stop   context.CancelFunc // ends the cap watcher, the daily limiter, the raw socket service
	// rawDone is closed when the raw socket service has ended and so
	// released every claim it made (nil: not started).
	rawDone chan struct{}
	// owner names the sliver of a host UID; set once the sliver runtime
	// exists (startServices).
	owner func(uid uint32) (string, bool)
	log   *slog.Logger
	// detach removes the port manager's kernel state on exit (SuspendOnExit).
	detach bool
	// rawLimits bound the raw socket service (Config.RawSock).
	rawLimits rawsock.Limits
	// capSet is the node's cap as recorded (kbit/s, 0: none, the
	// default); capBound is the local policy's bandwidth (kbit/s, 0:
	// none), which bounds it; capKick tells watchCap either changed.
	capSet   atomic.Int64
	capBound atomic.Int64
	capKick  chan struct{}
}

var _ sliver.Network = (*network)(nil)

// openNetwork starts the node's network layer. cg locates the cgroup v2
// hierarchy the port manager attaches to. If it fails, it undoes what it
// made, as a failed start-up of the node does (Node.abort).
func openNetwork(ctx context.Context, cfg Config, cg cgroup.Manager) (*network, error) {
	n := &network{log: cfg.Log, detach: cfg.SuspendOnExit, rawLimits: cfg.RawSock, stop: func() {}, capKick: make(chan struct{}, 1)}
	if err := n.open(ctx, cfg, cg); err != nil {
		n.detach = !keepOnFailure(cfg)
		if cerr := n.Close(); cerr != nil {
			cfg.Log.Error("undo network set-up", "err", cerr)
		}
		return nil, err
	}
	return n, nil
}

// open sets up each part of n in turn.
func (n *network) open(ctx context.Context, cfg Config, cg cgroup.Manager) error {
	if err := n.openShaping(ctx, cfg); err != nil {
		return err
	}
	root := unifiedRoot(cg, cfg.CgroupParent)
	if root == "" {
		cfg.Log.Warn("no cgroup v2 hierarchy: reserved ports are not enforced")
		return nil
	}
	n.pinDir = filepath.Join(portmgr.DefaultPinDir, cfg.CgroupParent)
	attach := root
	switch cfg.PortScope {
	case "", "machine":
	case "node":
		attach = filepath.Join(root, cfg.CgroupParent)
		if err := os.MkdirAll(attach, 0o755); err != nil {
			return fmt.Errorf("port manager: %w", err)
		}
	default:
		return fmt.Errorf("port scope %q: want machine or node", cfg.PortScope)
	}
	pm, err := portmgr.New(portmgr.Config{
		CgroupRoot: root,
		AttachAt:   attach,
		PinDir:     n.pinDir,
		Resolve:    n.sliceOfUID,
		MaxSockets: cfg.MaxSocketsPerSlice,
		Log:        cfg.Log,
	})
	if err != nil {
		return fmt.Errorf("port manager: %w", err)
	}
	n.ports = pm
	ports, err := servicePorts(cfg.SSHAddr, cfg.SensorAddr, cfg.AuditAddr)
	if err != nil {
		return err
	}
	if err := pm.ReserveNode(ports); err != nil {
		return fmt.Errorf("port manager: %w", err)
	}
	return nil
}

// servicePorts are the TCP ports the node's services listen on (the
// addresses of --ssh-addr, --sensor-addr and --audit-addr; "" is a
// service turned off), which no sliver may bind on any address: a
// sliver listening on the node's public address on the sensor's port
// would pose as the sensor to remote clients.
func servicePorts(addrs ...string) ([]api.Port, error) {
	var ports []api.Port
	for _, a := range addrs {
		if a == "" {
			continue
		}
		_, p, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("service address %q: %w", a, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("service address %q: port %q: want a number", a, p)
		}
		if n != 0 {
			ports = append(ports, api.Port{Proto: "tcp", Port: uint16(n)})
		}
	}
	return ports, nil
}

// openShaping tags the slivers' packets by their UIDs (nftables), logs
// every outgoing packet with its slice to the administrative sniffer
// stream, and shapes the uplink (HTB) unless cfg.Uplink is "none".
func (n *network) openShaping(ctx context.Context, cfg Config) error {
	group := cfg.SniffGroup
	if group == 0 {
		group = DefaultSniffGroup
	}
	tg, err := netfilter.New(netfilter.Config{Table: cfg.CgroupParent, LogGroup: group, Log: cfg.Log})
	if err != nil {
		return fmt.Errorf("packet tagging: %w", err)
	}
	n.tagger = tg
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	n.stop = stop
	src, err := sniff.Open(sniff.Config{Group: group, Log: cfg.Log, Slice: tg.SliceOfMark})
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EBUSY) {
		return fmt.Errorf("administrative sniffer: NFLOG group %d is taken, by another Orbis node on this machine or another NFLOG reader: give this node another with --sniff-group (%w)", group, err)
	}
	if err != nil {
		return fmt.Errorf("administrative sniffer: %w", err)
	}
	n.stream = sniff.NewStream()
	go func() {
		defer src.Close()
		if err := src.Run(lctx, n.stream); err != nil && lctx.Err() == nil {
			cfg.Log.Error("administrative sniffer stopped", "err", err)
		}
	}()
	if cfg.Uplink == "none" {
		cfg.Log.Warn("bandwidth is not shaped (--uplink none): net_min_rate and net_max_rate are not enforced")
		return nil
	}
	dev := cfg.Uplink
	if dev == "" {
		if dev, err = defaultRouteDev(); err != nil {
			cfg.Log.Warn("bandwidth is not shaped: no uplink found (give --uplink DEV)", "err", err)
			return nil
		}
	}
	n.loadCap(cfg.StateDir)
	if n.shaper, err = shaping.New(dev, n.capSet.Load(), cfg.Log); err != nil {
		return fmt.Errorf("shaping %s: %w", dev, err)
	}
	go n.watchCap(lctx)
	go shaping.NewDailyLimiter(n.shaper, tg, shaping.SystemClock{}, cfg.Log).Run(lctx, 30*time.Second)
	cfg.Log.Info("shaping", "uplink", dev, "cap_kbit", n.shaper.Cap())
	return nil
}

// DefaultSniffGroup is the NFLOG group of the administrative sniffer.
const DefaultSniffGroup = 5

// defaultRouteDev names the interface of the IPv4 default route.
func defaultRouteDev() (string, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return "", err
	}
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				return "", err
			}
			return l.Attrs().Name, nil
		}
	}
	return "", errors.New("no default route")
}

// sliceOfUID names the sliver a host UID belongs to.
func (n *network) sliceOfUID(uid uint32) (string, bool) {
	if n.owner == nil {
		return "", false
	}
	return n.owner(uid)
}

// startServices starts the services slivers reach through the share
// directory shown at /run/orbis in each of them: the safe raw socket
// service (paper 4.3), whose callers owner identifies.
func (n *network) startServices(ctx context.Context, share string, owner func(uint32) (string, bool)) error {
	n.owner = owner
	l, err := rawsock.Listen(filepath.Join(share, "rawsock.sock"))
	if err != nil {
		return fmt.Errorf("raw socket service: %w", err)
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	prev := n.stop
	n.stop = func() { prev(); stop() }
	n.rawDone = make(chan struct{})
	if n.ports == nil {
		n.log.Warn("no port manager: a raw socket's port is not claimed while it is bound")
	}
	go func() {
		defer close(n.rawDone)
		err := rawsock.Serve(sctx, l, rawsock.Config{Owner: owner, Holders: n.portHolders, Claim: n.claimPort,
			NodeAddrs: nodeAddrs, Limits: n.rawLimits, Log: n.log})
		if err != nil && sctx.Err() == nil {
			n.log.Error("raw socket service stopped", "err", err)
		}
	}()
	return nil
}

// claimPort holds a port for a slice's raw or sniffer socket in the port
// manager (portmgr.Manager.Claim), until a reservation of the port for
// another slice (SetSliver) revokes it; without a port manager it holds
// nothing.
func (n *network) claimPort(slice, proto string, port uint16, revoke portmgr.Revoke) (func(), error) {
	if n.ports == nil {
		return func() {}, nil
	}
	return n.ports.Claim(slice, api.Port{Proto: proto, Port: port}, revoke)
}

// rawServiceGrace is how long Close waits for the raw socket service to
// end its sessions before it closes the port manager under them.
const rawServiceGrace = 5 * time.Second

// portHolders reads who holds which port now (portmgr.Holders): the raw
// socket service's rule for a raw or sniffer binding.
func (n *network) portHolders() (*portmgr.Holders, error) {
	if n.ports == nil { // no reservations; the sockets alone decide
		return portmgr.ReadHolders("/proc", n.sliceOfUID, nil)
	}
	return n.ports.Holders()
}

// nodeAddrs are the node's global addresses, which slivers' raw packets
// may come from.
func nodeAddrs() []netip.Addr {
	addrs, _ := net.InterfaceAddrs()
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsGlobalUnicast() {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}

// unifiedRoot is the root of the cgroup v2 hierarchy cg's slivers are in,
// or "" when the node has none.
func unifiedRoot(cg cgroup.Manager, parent string) string {
	p := cg.UnifiedPath("probe_probe")
	return strings.TrimSuffix(p, "/"+parent+"/probe_probe")
}

// SetSliver tags, shapes and reserves the ports of the sliver.
func (n *network) SetSliver(ctx context.Context, s sliver.NetSliver) error {
	n.widenPingGroups(s)
	if n.tagger != nil {
		ns := netfilter.Sliver{Name: s.Name, UIDBase: s.UIDBase, UIDCount: s.UIDCount, Index: s.Index,
			MinRate: max(s.MinRate, 1), MaxRate: max(s.MaxRate, s.MinRate, 1),
			DailyMaxKB: s.DailyMaxKB, DailyThreshKB: s.DailyThreshKB}
		if err := n.tagger.Set(ctx, ns); err != nil {
			return err
		}
		if n.shaper != nil {
			if err := n.shaper.Set(ctx, ns); err != nil {
				return err
			}
		}
	}
	if n.ports == nil {
		if len(s.Ports) > 0 {
			return errors.New("ports: this node cannot reserve ports (no cgroup v2 hierarchy)")
		}
		return nil
	}
	return n.ports.Reserve(ctx, s.Name, s.Cgroup, s.Ports)
}

// RemoveSliver undoes SetSliver.
func (n *network) RemoveSliver(ctx context.Context, name string) error {
	if n.shaper != nil {
		if err := n.shaper.Remove(ctx, name); err != nil {
			return err
		}
	}
	if n.tagger != nil {
		if err := n.tagger.Remove(ctx, name); err != nil {
			return err
		}
	}
	if n.ports == nil {
		return nil
	}
	return n.ports.Release(name)
}

// Close stops the network layer. Reservations stay in the kernel (pinned)
// while slivers may run, unless the node leaves nothing behind.
func (n *network) Close() error {
	n.stop()
	if n.rawDone != nil {
		select {
		case <-n.rawDone:
		case <-time.After(rawServiceGrace):
			n.log.Warn("raw socket service still ending its sessions: closing the port manager under it")
		}
	}
	var err error
	if n.detach && n.shaper != nil {
		err = n.shaper.Close()
	}
	if n.detach && n.tagger != nil {
		err = errors.Join(err, n.tagger.Close())
	}
	if n.ports == nil {
		return err
	}
	if n.detach {
		err = errors.Join(err, n.ports.Detach())
		os.Remove(n.pinDir)
		return err
	}
	return errors.Join(err, n.ports.Close())
}
