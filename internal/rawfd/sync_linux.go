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
// to it before stays), and leaves it before its claim is released.
func (s *Server) syncSlice(name string) {
	want := s.heldPorts(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.slices[name]
	if st == nil {
		return
	}
	if s.cfg.Claim != nil {
		want = s.claimLocked(st, want)
	}
	if err := s.nft.setPorts(RawMark(st.Index), st.ports, want); err != nil {
		s.cfg.Log.Error("raw sockets: set ports", "slice", name, "err", err)
		s.unclaimLocked(st, st.ports)
		return
	}
	s.setPacketPorts(st, want)
	st.ports = want
	s.unclaimLocked(st, want)
}

// heldPorts are the TCP and UDP ports Config.Ports says slice holds now.
func (s *Server) heldPorts(name string) map[Port]bool {
	ports, err := s.cfg.Ports(name)
	if err != nil {
		s.cfg.Log.Error("raw sockets: ports of slice", "slice", name, "err", err)
		ports = nil
	}
	held := map[Port]bool{}
	for _, p := range ports {
		if p.Proto == 6 || p.Proto == 17 {
			held[p] = true
		}
	}
	return held
}

// claimLocked claims the ports of want the slice has no claim on yet and
// returns those of want it may have in the table: claimed, and still held
// once claimed.
func (s *Server) claimLocked(st *sliceState, want map[Port]bool) map[Port]bool {
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
	if !fresh {
		return want
	}
	// Another's socket may have been bound to a port between Ports and
	// its claim.
	again := s.heldPorts(st.Name)
	for p := range want {
		if !again[p] {
			delete(want, p)
		}
	}
	return want
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
// port for another slice took the claim back.
func (s *Server) revoke(name string, p Port) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.slices[name]
	if st == nil || !st.ports[p] {
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
	delete(st.claims, p)
}
