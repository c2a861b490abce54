package rawfd

import (
	"fmt"
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
	}
}

// syncSlice sets the table's ports of one slice to what Config.Ports says
// now. When Ports fails, the slice keeps none: its raw sockets then send
// no TCP or UDP until the next sync.
func (s *Server) syncSlice(name string) {
	ports, err := s.cfg.Ports(name)
	if err != nil {
		s.cfg.Log.Error("raw sockets: ports of slice", "slice", name, "err", err)
		ports = nil
	}
	want := map[Port]bool{}
	for _, p := range ports {
		if p.Proto == 6 || p.Proto == 17 {
			want[p] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.slices[name]
	if st == nil {
		return
	}
	if err := s.nft.setPorts(RawMark(st.Index), st.ports, want); err != nil {
		s.cfg.Log.Error("raw sockets: set ports", "slice", name, "err", fmt.Errorf("%w", err))
		return
	}
	st.ports = want
}
