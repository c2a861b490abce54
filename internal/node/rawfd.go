package node

import (
	"fmt"
	"os"
	"os/exec"
	"sync"

	"github.com/orbisproject/orbis/internal/rawfd"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
)

// kernelRaw gives slivers real raw sockets through socket(2)
// (internal/rawfd), beside the raw socket service, which stays for the
// programs written for it.
type kernelRaw struct {
	srv *rawfd.Server
	net *network

	mu sync.Mutex
	// mu guards the following.
	slivers map[string]sliver.NetSliver // by slice name, as last served
}

// openKernelRaw starts the raw sockets of slivers, or says at start-up
// why this node has none (then slivers have only the raw socket service).
// A nil *kernelRaw is valid and serves nothing.
func openKernelRaw(cfg Config, n *network) *kernelRaw {
	log := cfg.Log
	switch {
	case cfg.RawSocketsPerSlice < 0:
		log.Info("raw sockets through socket(2) are off (--raw-sockets-per-slice -1): slivers use the raw socket service")
		return nil
	case !sandbox.RawNotifySupported():
		log.Warn("this kernel has no seccomp ADDFD with SEND (Linux 5.14): slivers' socket(SOCK_RAW) fails with EPERM, and raw packets go through the raw socket service only")
		return nil
	}
	if _, err := exec.LookPath("nft"); err != nil {
		log.Warn("no nft(8) to confine raw sockets: slivers' socket(SOCK_RAW) fails with EPERM, and raw packets go through the raw socket service only", "err", err)
		return nil
	}
	k := &kernelRaw{net: n, slivers: map[string]sliver.NetSliver{}}
	rcfg := rawfd.Config{Ports: k.ports, Table: cfg.CgroupParent + "_rawfd", MaxPerSlice: cfg.RawSocketsPerSlice,
		MaxPacketPerSlice: cfg.PacketSocketsPerSlice, CallsPerSec: cfg.RawSocketCallsPerSec,
		MaxPacketRing: int(cfg.PacketRingMax), Log: log}
	if n.ports != nil {
		rcfg.Claim = k.claim
	} // else rawfd says its sockets then carry ICMP only
	srv, err := rawfd.New(rcfg)
	if err != nil {
		log.Error("raw sockets through socket(2) are off: slivers use the raw socket service", "err", err)
		return nil
	}
	k.srv = srv
	log.Info("slivers open raw sockets with socket(2), confined by the kernel", "table", cfg.CgroupParent+"_rawfd")
	return k
}

// serveFunc is the sliver runtime's Options.RawSockets: nil without
// kernel raw sockets, so that slivers' filters then refuse them.
func (k *kernelRaw) serveFunc() func(sliver.NetSliver, *os.File) {
	if k == nil {
		return nil
	}
	return func(s sliver.NetSliver, f *os.File) {
		k.mu.Lock()
		k.slivers[s.Name] = s
		k.mu.Unlock()
		k.srv.Serve(rawfd.Slice{Name: s.Name, Index: s.Index, UIDBase: s.UIDBase, UIDCount: s.UIDCount}, f)
	}
}

// ports are the TCP and UDP ports slice holds alone now (the port
// manager's rule, portmgr.Holders.Hold): its reserved ports and those its
// own sockets are bound to, each confirmed.
func (k *kernelRaw) ports(slice string) ([]rawfd.Port, error) {
	k.mu.Lock()
	s, ok := k.slivers[slice]
	k.mu.Unlock()
	if !ok {
		return nil, nil
	}
	h, err := k.net.portHolders()
	if err != nil {
		return nil, err
	}
	cands := map[rawfd.Port]bool{}
	for _, p := range s.Ports {
		if proto, ok := protoNumber[p.Proto]; ok {
			cands[rawfd.Port{Proto: proto, Port: p.Port}] = true
		}
	}
	bound, err := rawfd.BoundPorts(s.UIDBase, s.UIDCount)
	if err != nil {
		return nil, err
	}
	for _, p := range bound {
		cands[p] = true
	}
	var held []rawfd.Port
	for p := range cands {
		if _, err := h.Hold(slice, protoName[p.Proto], p.Port); err == nil {
			held = append(held, p)
		}
	}
	return held, nil
}

// claim keeps p from everyone but slice while the raw sockets' table
// lists it as slice's (portmgr.Manager.Claim).
func (k *kernelRaw) claim(slice string, p rawfd.Port, revoke func()) (func(), error) {
	return k.net.claimPort(slice, protoName[p.Proto], p.Port, func(string) { revoke() })
}

var (
	protoNumber = map[string]uint8{"tcp": 6, "udp": 17}
	protoName   = map[uint8]string{6: "tcp", 17: "udp"}
)

// Close stops answering: slivers' raw socket() calls then wait for the
// next agent, which takes their inits' listeners up again
// (sliver.Manager.Restore). The nftables table stays, keeping
// the raw sockets slivers hold confined, unless detach (a node that
// leaves nothing in the kernel).
func (k *kernelRaw) Close(detach bool) error {
	if k == nil {
		return nil
	}
	return k.srv.Close(detach)
}

// widenPingGroups lets the sliver's GIDs open ICMP datagram sockets
// (iputils ping and tracepath without privilege), widening the node's
// net.ipv4.ping_group_range, never narrowing it.
func (n *network) widenPingGroups(s sliver.NetSliver) {
	was, now, err := rawfd.WidenPingGroups(rawfd.GroupRange{Lo: s.UIDBase, Hi: s.UIDBase + s.UIDCount - 1})
	switch {
	case err != nil:
		n.log.Warn("ICMP datagram sockets (ping) stay closed to the sliver", "slice", s.Name, "err", err)
	case was != now:
		n.log.Info("net.ipv4.ping_group_range widened for slivers' ping", "was", fmt.Sprintf("%d %d", was.Lo, was.Hi), "now", fmt.Sprintf("%d %d", now.Lo, now.Hi))
	}
}
