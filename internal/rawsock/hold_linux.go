package rawsock

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/portmgr"
)

// holdAddrs returns the node's addresses on which slice holds b's TCP or
// UDP port alone (Config.OwnsPort): those a raw or sniffer socket bound
// to b may use. A port the slice does not hold, or holds only on other
// addresses (loopback, say), is refused.
func (s *server) holdAddrs(slice string, b Binding) ([]netip.Addr, error) {
	if b.Port == 0 {
		return nil, refused("slice %s does not own %s port 0", slice, b.name())
	}
	h, err := s.cfg.OwnsPort(slice, b.name(), b.Port)
	var nh *portmgr.NotHeldError
	if errors.As(err, &nh) {
		return nil, refused("%s", nh.Reason)
	}
	if err != nil {
		return nil, err
	}
	node := s.nodeAddrs()
	if h.All {
		return slices.Clone(node), nil
	}
	var addrs []netip.Addr
	for _, a := range h.Addrs {
		if isNodeAddr(a.Unmap(), node) {
			addrs = append(addrs, a.Unmap())
		}
	}
	if len(addrs) == 0 {
		return nil, refused("slice %s holds %s port %d only on %v, not on an address of the node", slice, b.name(), b.Port, h.Addrs)
	}
	return addrs, nil
}

// recheckLoop asks again, every RecheckEvery until ctx ends, where each
// bound TCP or UDP socket's slice holds its port, and hangs up on those
// whose slice no longer holds it on all of the socket's addresses: a
// socket of another slice (or of the node) has taken the port since, or
// the slice's own socket that held it is gone.
func (s *server) recheckLoop(ctx context.Context) {
	t := time.NewTicker(or(s.cfg.RecheckEvery, DefaultRecheckEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.recheck()
		}
	}
}

func (s *server) recheck() {
	s.mu.Lock()
	sessions := slices.Collect(maps.Keys(s.sessions))
	s.mu.Unlock()
	type key struct {
		slice string
		b     Binding
	}
	held := map[key][]netip.Addr{} // nil: not held
	for _, ss := range sessions {
		if ss.b.Proto == wire.ProtoICMP {
			continue
		}
		k := key{ss.slice, ss.b}
		addrs, ok := held[k]
		if !ok {
			var err error
			addrs, err = s.holdAddrs(ss.slice, ss.b)
			var we *wire.Error
			if err != nil && !errors.As(err, &we) { // the node's failure, not the slice's
				ss.log.Warn("raw sockets: recheck of the port's holder", "binding", ss.b, "err", err)
				continue
			}
			held[k] = addrs
		}
		if !containsAll(addrs, ss.addrs) {
			ss.log.Warn("raw sockets: slice no longer holds the port: closing the socket",
				"binding", ss.b, "sniff", ss.sniff, "addrs", ss.addrs, "held", addrs)
			hangup(ss.c, "slice %s no longer holds %s on %v alone: socket closed", ss.slice, ss.b, ss.addrs)
			ss.c.Close()
		}
	}
}

// containsAll reports whether every one of want is in have.
func containsAll(have, want []netip.Addr) bool {
	for _, a := range want {
		if !slices.Contains(have, a) {
			return false
		}
	}
	return true
}
