package rawsock

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/portmgr"
)

// held is what a bound session holds, for the recheck.
type held struct {
	slice string
	b     Binding
	addrs []netip.Addr
}

// holdAddrs returns the node's addresses on which slice holds b's TCP or
// UDP port alone, by hs (nil: read Config.Holders now): those a raw or
// sniffer socket bound to b may use. A port the slice does not hold, or
// holds only on other addresses (loopback, say), is refused.
func (s *server) holdAddrs(hs *portmgr.Holders, slice string, b Binding) ([]netip.Addr, error) {
	if b.Port == 0 {
		return nil, refused("slice %s does not own %s port 0", slice, b.name())
	}
	if hs == nil {
		var err error
		if hs, err = s.cfg.Holders(); err != nil {
			return nil, fmt.Errorf("read the ports' holders: %w", err)
		}
	}
	h, err := hs.Hold(slice, b.name(), b.Port)
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

// recheckLoop reads the ports' holders again every RecheckEvery until
// ctx ends, and hangs up on each bound TCP or UDP socket whose slice no
// longer holds its port alone on all of the socket's addresses: a socket
// of another slice (or of the node) has taken the port since, or the
// slice's own socket that held it is gone. Each such binding is released
// at once, all in parallel (session.lose), and its hang-up written after.
func (s *server) recheckLoop(ctx context.Context) {
	t := time.NewTicker(or(s.cfg.RecheckEvery, DefaultRecheckEvery))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.recheck(); err != nil {
				s.cfg.log().Warn("raw sockets: recheck of the ports' holders", "err", err)
			}
		}
	}
}

func (s *server) recheck() error {
	s.mu.Lock()
	sessions := maps.Clone(s.sessions)
	s.mu.Unlock()
	maps.DeleteFunc(sessions, func(_ *session, h held) bool { return h.b.Proto == wire.ProtoICMP })
	if len(sessions) == 0 {
		return nil
	}
	hs, err := s.cfg.Holders()
	if err != nil { // the node's failure, not the slices': keep them
		return err
	}
	for ss, h := range sessions {
		addrs, err := s.holdAddrs(hs, h.slice, h.b)
		var we *wire.Error
		if err != nil && !errors.As(err, &we) {
			return err
		}
		if !containsAll(addrs, h.addrs) {
			ss.log.Warn("raw sockets: slice no longer holds the port: closing the socket",
				"binding", h.b, "addrs", h.addrs, "held", addrs, "err", err)
			ss.lose(fmt.Sprintf("slice %s no longer holds %s on %v alone: socket closed", h.slice, h.b, h.addrs))
		}
	}
	return nil
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
