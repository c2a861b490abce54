package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/orbisproject/orbis/api"

	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/sensor"
	"github.com/orbisproject/orbis/internal/sniff"
)

// DefaultSensorAddr is where `orbis node` serves its sensors unless told
// otherwise: the paper's loopback port 33080, which slivers share.
const DefaultSensorAddr = sensor.DefaultAddr

// startSensors listens on addr and serves the sensor server until ctx is
// done or stop is called; stop returns once the server is down. An empty
// addr disables it.
//
// The slices' traffic comes from the packet tagger's counters and the port
// owners from the port manager, where the node runs them; without them
// traffic reads zero and /ports answers "not available on this node". The
// connect calls (/connects) come from the administrative sniffer stream.
func (n *Node) startSensors(ctx context.Context, addr string) (stop func(), err error) {
	if addr == "" {
		n.cfg.Log.Info("sensor server disabled")
		return func() {}, nil
	}
	srv := sensor.New(sensor.Config{
		ProcRoot: "/proc",
		// "fair" is the group of best-effort slivers (see the sliver
		// package), not a sliver.
		Slices:   &sensor.CgroupSlices{Groups: n.cgroups, Skip: []string{"fair"}, Bytes: n.sliceBytes()},
		Nodes:    n.centralNodes(),
		Ports:    n.portOwners(),
		Connects: n.connects(),
		// A local client is the slice of its socket's owner.
		SliceOfUID:        n.Slivers.SliceOfUID,
		MaxConns:          n.cfg.SensorConns,
		MaxConnsPerClient: n.cfg.SensorConnsPerClient,
		Log:               n.cfg.Log.With("part", "sensor"),
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sensor server: %w", err)
	}
	n.cfg.Log.Info("sensor server listening", "addr", ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			n.cfg.Log.Error("sensor server stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }, nil
}

// centralURL is the central the node follows: the one it was told, else
// the one it registered with, else none.
func (n *Node) centralURL() string {
	if n.cfg.Central != "" {
		return n.cfg.Central
	}
	creds, ok, err := rm.LoadCredentials(filepath.Join(n.cfg.StateDir, "rm"))
	if err != nil || !ok {
		return ""
	}
	return creds.Central
}

// sliceBytes is the packet tagger's per-slice byte counters, or nil when
// the node tags no packets.
func (n *Node) sliceBytes() sensor.ByteCounter {
	if n.net == nil || n.net.tagger == nil {
		return nil
	}
	tg := n.net.tagger
	return func(ctx context.Context) (map[string]sensor.Bytes, error) {
		counts, err := tg.Counters(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]sensor.Bytes, len(counts))
		for name, c := range counts {
			out[name] = sensor.Bytes{Tx: c.TxBytes, Rx: c.RxBytes}
		}
		return out, nil
	}
}

// portOwners is the port manager's table, or nil when the node has no
// port manager.
func (n *Node) portOwners() sensor.PortSource {
	if n.net == nil || n.net.ports == nil {
		return nil
	}
	pm := n.net.ports
	return sensor.PortFunc(func(context.Context) ([]sensor.PortOwner, error) {
		entries, err := pm.List()
		if err != nil {
			return nil, err
		}
		out := make([]sensor.PortOwner, 0, len(entries))
		for _, e := range entries {
			out = append(out, sensor.PortOwner{Proto: e.Proto, Port: e.Port, Slice: e.Owner, Kind: string(e.Kind)})
		}
		return out, nil
	})
}

// connects are the slivers' (and the node's) outgoing TCP connection
// attempts, from the administrative sniffer stream; nil without one.
func (n *Node) connects() sensor.Events {
	if n.net == nil || n.net.stream == nil {
		return nil
	}
	return connectEvents{n.net.stream}
}

type connectEvents struct{ stream *sniff.Stream }

// Subscribe relays the stream's connection attempts until ctx is done.
func (c connectEvents) Subscribe(ctx context.Context) (<-chan sensor.ConnectEvent, error) {
	pkts, _ := c.stream.Subscribe(ctx, 1024)
	out := make(chan sensor.ConnectEvent, 64)
	go func() {
		defer close(out)
		for p := range pkts {
			if !p.IsConnect() {
				continue
			}
			ev := sensor.ConnectEvent{Time: p.Time, Slice: p.Slice, Proto: "tcp",
				Src: netip.AddrPortFrom(p.Src, p.SrcPort), Dst: netip.AddrPortFrom(p.Dst, p.DstPort)}
			select {
			case out <- ev:
			default: // the sensor is behind: drop, never block the stream
			}
		}
	}()
	return out, nil
}

// centralNodes is the sensors' source of central's node list, verifying
// central by the CA the node pinned when it registered.
func (n *Node) centralNodes() *sensor.CentralNodes {
	src := sensor.NewCentralNodes(n.centralURL)
	var mu sync.Mutex
	var ca string
	var v *api.Verifier
	src.Verifier = func() *api.Verifier {
		creds, _, err := rm.LoadCredentials(filepath.Join(n.cfg.StateDir, "rm"))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			// Keep the pinned CA rather than fall back to the system's
			// roots (what the zero credentials would give).
			n.cfg.Log.Warn("sensors: cannot read the node's credentials; central is verified as before", "err", err)
			return v
		}
		if v == nil || creds.CA != ca {
			ca, v = creds.CA, creds.Verifier()
		}
		return v
	}
	return src
}
