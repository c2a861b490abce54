package rawfd

import (
	"maps"
	"time"
)

// syncLoop keeps every served slice's ports in the table in step with
// Config.Ports.
func (s *Server) syncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SyncEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		names := make([]string, 0, len(s.slices))
		for name := range s.slices {
			names = append(names, name)
		}
		s.mu.Unlock()
		for _, name := range names {
			s.syncSlice(name)
		}
		if s.egress != nil {
			if err := s.egress.sync(); err != nil {
				s.cfg.Log.Error("packet sockets", "err", err)
			}
		}
	}
}

// syncSlice sets the table's ports of one slice to what Config.Ports says
// now. When Ports fails, the slice keeps none: its raw sockets then send
// no TCP or UDP until the next sync. With Config.Claim, a port enters the
// table only once claimed and still held after the claim (a socket bound
// to it before stays), and leaves it before its claim is released. The
// socket tables are read with no lock of the Server held, so that a
// slow read delays only this slice's sync.
func (s *Server) syncSlice(name string) {
	st, sl := s.slice(name)
	if st == nil {
		return
	}
	st.syncing.Lock()
	defer st.syncing.Unlock()
	var bound []Port
	var berr error
	s.w.do(func() { bound, berr = BoundPorts(sl.UIDBase, sl.UIDCount) })
	want, ok := s.heldPorts(name)
	held := len(want)
	if s.cfg.Claim != nil {
		s.mu.Lock()
		fresh := s.slices[name] == st && s.claimLocked(st, want)
		s.mu.Unlock()
		if fresh {
			// Another's socket may have been bound to a port between
			// Ports and its claim.
			again, _ := s.heldPorts(name)
			for p := range want {
				if !again[p] {
					delete(want, p)
				}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slices[name] != st {
		return // released meanwhile, with its claims
	}
	if s.cfg.Claim != nil {
		for p := range want {
			if st.claims[p] == nil {
				delete(want, p) // revoked meanwhile
			}
		}
	}
	st.pending = true
	if err := s.nft.setPorts(RawMark(st.Index), st.ports, want); err != nil {
		s.cfg.Log.Error("raw sockets: set ports", "slice", name, "err", err)
		s.unclaimLocked(st, st.ports)
		return
	}
	s.setPacketPorts(st, want)
	st.ports = want
	s.unclaimLocked(st, want)
	if ok && berr == nil {
		st.pending = len(want) < held
		st.bound = map[Port]bool{}
		for _, p := range bound {
			st.bound[p] = true
		}
	}
}

// syncIfBound syncs the slice's ports when its own sockets hold a port
// they did not hold at its last sync (a tool often binds the port it
// will send from just before it opens its raw socket), or when the last
// sync left out a port the slice holds (its claim was refused). Asking
// the kernel for the slice's listeners and UDP sockets is cheap; the
// full reading of who holds which port (Config.Ports) is left to the
// periodic sync when nothing changed.
func (s *Server) syncIfBound(name string) {
	st, sl := s.slice(name)
	if st == nil {
		return
	}
	var bound []Port
	var err error
	s.w.do(func() { bound, err = BoundPorts(sl.UIDBase, sl.UIDCount) })
	if err == nil {
		st.syncing.Lock()
		known := !st.pending
		for _, p := range bound {
			known = known && st.bound[p]
		}
		st.syncing.Unlock()
		if known {
			return
		}
	}
	s.syncSlice(name)
}

// slice is the state of the slice of name (nil if not served) and what
// it was last served as.
func (s *Server) slice(name string) (*sliceState, Slice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.slices[name]
	if st == nil {
		return nil, Slice{}
	}
	return st, st.Slice
}

// heldPorts are the TCP and UDP ports Config.Ports says slice holds now;
// none, and false, when it fails.
func (s *Server) heldPorts(name string) (map[Port]bool, bool) {
	held := map[Port]bool{}
	ports, err := s.cfg.Ports(name)
	if err != nil {
		s.cfg.Log.Error("raw sockets: ports of slice", "slice", name, "err", err)
		return held, false
	}
	for _, p := range ports {
		if p.Proto == 6 || p.Proto == 17 {
			held[p] = true
		}
	}
	return held, true
}

// claimLocked claims the ports of want the slice has no claim on yet,
// drops from want those it cannot claim, and says whether it made a
// claim.
func (s *Server) claimLocked(st *sliceState, want map[Port]bool) bool {
	fresh := false
	for p := range want {
		if st.claims[p] != nil {
			continue
		}
		name := st.Name
		release, err := s.cfg.Claim(name, p, func() { s.revoke(name, p) })
		if err != nil {
			s.cfg.Log.Debug("raw sockets: port not claimed", "slice", name, "port", p, "err", err)
			delete(want, p)
			continue
		}
		st.claims[p] = release
		fresh = true
	}
	return fresh
}

// unclaimLocked releases the slice's claims on the ports not in keep.
func (s *Server) unclaimLocked(st *sliceState, keep map[Port]bool) {
	for p, release := range st.claims {
		if !keep[p] {
			release()
			delete(st.claims, p)
		}
	}
}

// revoke takes p out of the slice's ports at once: a reservation of the
// port for another slice took the claim back. A sync under way then
// leaves p out (it checks the claim last).
func (s *Server) revoke(name string, p Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.slices[name]
	if st == nil || st.claims[p] == nil {
		return
	}
	delete(st.claims, p)
	if !st.ports[p] {
		return
	}
	want := maps.Clone(st.ports)
	delete(want, p)
	if err := s.nft.setPorts(RawMark(st.Index), st.ports, want); err != nil {
		s.cfg.Log.Error("raw sockets: revoke port", "slice", name, "port", p, "err", err)
		return
	}
	s.setPacketPorts(st, want)
	st.ports = want
}
