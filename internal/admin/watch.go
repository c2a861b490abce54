package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/sniff"
)

// handleWatch streams the node's outgoing packets that match the filter
// to the caller, one api.AdminWatchEvent a line, until the caller hangs
// up. A caller that reads too slowly loses packets, never slows the
// node: its subscription holds WatchBuffer packets, and the count of
// those it lost is sent whenever it grows.
func (s *Service) handleWatch(w http.ResponseWriter, r *http.Request) {
	expr := r.URL.Query().Get("filter")
	c, err := s.caller(r.Context())
	if err == nil {
		err = s.checkWatch()
	}
	var f filter
	if err == nil {
		f, err = parseFilter(expr)
		if err != nil {
			err = errorf(http.StatusBadRequest, "%v", err)
		}
	}
	if err != nil {
		s.record(c, "watch", expr, err)
		writeError(w, err)
		return
	}
	select {
	case s.watchers <- struct{}{}:
		defer func() { <-s.watchers }()
	default:
		err = errorf(http.StatusTooManyRequests, "%d watchers already watch this node (the most it serves at a time)", cap(s.watchers))
		s.record(c, "watch", expr, err)
		writeError(w, err)
		return
	}
	s.record(c, "watch", "start: "+expr, nil)
	sent, dropped := s.stream(w, r, f)
	s.recordKind(c, "watch", "watch end", fmt.Sprintf("end: %d packets sent, %d dropped", sent, dropped), nil)
}

func (s *Service) checkWatch() error {
	if s.cfg.Stream == nil {
		return errorf(http.StatusServiceUnavailable, "this node has no administrative sniffer stream")
	}
	return nil
}

// stream writes the events of one watcher until its request ends.
func (s *Service) stream(w http.ResponseWriter, r *http.Request, f filter) (sent, dropped uint64) {
	ctx := r.Context()
	packets, lost := s.cfg.Stream.Subscribe(ctx, s.cfg.WatchBuffer)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc.Flush()
	enc := json.NewEncoder(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var kernel uint64
	for {
		var ev api.AdminWatchEvent
		select {
		case p, ok := <-packets:
			if !ok {
				return sent, dropped
			}
			if !f.match(&p) {
				continue
			}
			ev.Packet = wirePacket(&p)
			sent++
		case <-tick.C:
		}
		if d, k := lost(), s.cfg.Stream.KernelDropped(); d > dropped || k > kernel {
			dropped, kernel = d, k
			if ev.Packet != nil {
				enc.Encode(api.AdminWatchEvent{Dropped: d, KernelDropped: k})
			} else {
				ev.Dropped, ev.KernelDropped = d, k
			}
		}
		if ev == (api.AdminWatchEvent{}) {
			continue
		}
		if err := enc.Encode(ev); err != nil {
			return sent, dropped
		}
		if len(packets) == 0 {
			rc.Flush()
		}
	}
}

func wirePacket(p *sniff.Packet) *api.AdminPacket {
	return &api.AdminPacket{Time: p.Time, Slice: p.Slice, Src: p.Src.String(), Dst: p.Dst.String(),
		Proto: p.Proto, SrcPort: p.SrcPort, DstPort: p.DstPort, Flags: p.TCPFlags, Len: p.Len}
}
