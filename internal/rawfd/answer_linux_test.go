package rawfd

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/portmgr"
)

// BenchmarkAnswer times a raw socket() in a sliver (the median of 50
// calls, measured in the sliver), with the node's rule for the ports a
// slice holds (the port holders of the namespace and the slice's bound
// ports): steady, when the slice bound nothing since its last sync, and
// bind, when it binds a fresh UDP port before each call.
func BenchmarkAnswer(b *testing.B) {
	requireNotify(b)
	p := nettest.NewPair(b)
	var s *testSlice
	owner := func(uid uint32) (string, bool) {
		return s.Name, uid >= s.UIDBase && uid-s.UIDBase < s.UIDCount
	}
	ports := func(name string) ([]Port, error) {
		var held []Port
		err := nettest.InNS(p.SendNS, func() error {
			h, err := portmgr.ReadHoldersNow(owner, nil)
			if err != nil {
				return err
			}
			bound, err := BoundPorts(s.UIDBase, s.UIDCount)
			if err != nil {
				return err
			}
			for _, q := range bound {
				if _, err := h.Hold(name, map[uint8]string{6: "tcp", 17: "udp"}[q.Proto], q.Port); err == nil {
					held = append(held, q)
				}
			}
			return nil
		})
		return held, err
	}
	srv := newServer(b, p, ports)
	s = newSlice(b, srv, p.SendNS, 43)
	for _, mode := range []string{"steady", "bind"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				out := s.probe(b, "opens", "50", mode)
				ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
				if err != nil {
					b.Fatalf("probe: %q", out)
				}
				b.ReportMetric(float64(ns), "ns/socket")
			}
		})
	}
}

// BenchmarkServe times what serving a sliver's raw sockets adds to its
// start: Server.Serve, which sandbox.Start calls with the sliver's
// listener before it returns, here with a Ports that reads the socket
// tables as the node's does.
func BenchmarkServe(b *testing.B) {
	requireNotify(b)
	p := nettest.NewPair(b)
	nobody := func(uint32) (string, bool) { return "", false }
	srv := newServer(b, p, func(string) ([]Port, error) {
		return nil, nettest.InNS(p.SendNS, func() error {
			_, err := portmgr.ReadHoldersNow(nobody, nil)
			return err
		})
	})
	var took []time.Duration
	index := uint32(100)
	for b.Loop() {
		s := newSlice(b, srv, p.SendNS, index)
		index++
		serve := s.cfg.RawSockets
		s.cfg.RawSockets = func(f *os.File) {
			t0 := time.Now()
			serve(f)
			took = append(took, time.Since(t0))
		}
		s.probe(b, "many", "0")
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "ns/serve")
}
