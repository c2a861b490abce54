package rawfd

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/rawsock"
	"github.com/orbisproject/orbis/internal/testutil"
)

// BenchmarkRawSockets puts, in one run on one veth pair, a sliver's raw
// sockets beside root's and the raw socket service's, in rounds that
// take each in turn (so that a change of the machine's load falls on all
// alike), and reports the median of each:
//
//	rtt: the mean echo round trip (ns/rtt) of root's raw ICMP socket in
//	the test process (root-), an unprivileged sliver user's
//	socket(SOCK_RAW) (raw-), the same user's ICMP datagram socket
//	(ping-) and the same user through the raw socket service (relay-)
//	pps: 512-byte UDP datagrams a second sent through a raw UDP socket
//	as fast as it goes, by root (root-) and by the sliver user (raw-),
//	by the wall clock and by the sending thread's CPU time (cpu-)
//
// and the median of the rounds' ratios of the sliver's raw socket to
// root's (raw/root). The sliver's figures are measured inside its program, so that
// starting it is not counted.
func BenchmarkRawSockets(b *testing.B) {
	requireNotify(b)
	p := nettest.NewPair(b)
	srv := newServer(b, p, func(string) ([]Port, error) { return []Port{{17, 6000}}, nil })
	s := newSlice(b, srv, p.SendNS, 41)
	share := b.TempDir()
	os.Chmod(share, 0o755)
	startRelay(b, p, share, s)
	s.cfg.RunShare = share
	if err := nettest.InNS(p.SendNS, func() error {
		_, _, err := WidenPingGroups(GroupRange{s.UIDBase, s.UIDBase + s.UIDCount - 1})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	sink := nettest.Listen(b, p, 5555, false)
	peer := p.RecvIP.String()
	const rounds, echoes, floods = 5, 2000, 50000
	parse := func(b *testing.B, out string) float64 {
		ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			b.Fatalf("probe: %q", out)
		}
		return float64(ns)
	}
	// interleave runs each of runs once a round and reports the median
	// of each (name-unit) and, for each pair of runs in ratios, of the
	// rounds' ratios of the second to the first.
	interleave := func(b *testing.B, unit string, names []string, ratios [][2]int, runs ...func() float64) {
		got := make([][]float64, len(runs))
		for range rounds {
			for i, run := range runs {
				got[i] = append(got[i], run())
			}
		}
		for _, r := range ratios {
			var xs []float64
			for i := range rounds {
				xs = append(xs, got[r[1]][i]/got[r[0]][i])
			}
			slices.Sort(xs)
			b.ReportMetric(xs[rounds/2], names[r[1]]+"/"+names[r[0]])
		}
		for i, xs := range got {
			slices.Sort(xs)
			b.ReportMetric(xs[rounds/2], names[i]+"-"+unit)
		}
	}
	b.Run("rtt", func(b *testing.B) {
		for b.Loop() {
			interleave(b, "ns/rtt", []string{"root", "raw", "ping", "relay"}, [][2]int{{0, 1}},
				func() float64 { return float64(rootRTT(b, p, echoes)) },
				func() float64 { return parse(b, s.probe(b, "rtt", peer, strconv.Itoa(echoes))) },
				func() float64 { return parse(b, s.probe(b, "dgramrtt", peer, strconv.Itoa(echoes))) },
				func() float64 {
					return parse(b, s.probe(b, "relayrtt", "/run/orbis/rawsock.sock", peer, strconv.Itoa(echoes)))
				})
		}
	})
	// pps: the rate by the wall clock and by the sending thread's CPU
	// time (cpu-), which other loads on the machine disturb less.
	b.Run("pps", func(b *testing.B) {
		for b.Loop() {
			var rootCPU, rawCPU float64
			interleave(b, "pkt/s", []string{"root", "raw", "cpu-root", "cpu-raw"}, [][2]int{{0, 1}, {2, 3}},
				func() float64 {
					wall, cpu := flood(b, p, 0, 6001, floods)
					rootCPU = floods * 1e9 / float64(cpu)
					return floods * 1e9 / float64(wall)
				},
				func() float64 {
					out := s.probe(b, "flood", peer, "6000", "5555", strconv.Itoa(floods))
					wall, cpu, _ := strings.Cut(out, " ")
					rawCPU = floods * 1e9 / parse(b, cpu)
					return floods * 1e9 / parse(b, wall)
				},
				func() float64 { return rootCPU },
				func() float64 { return rawCPU })
		}
	})
	b.Logf("the sink received %d datagrams", sink.Packets())
}

// startRelay runs the raw socket service in the pair's sending namespace,
// its socket in share, for the slice s.
func startRelay(b testing.TB, p *nettest.Pair, share string, s *testSlice) {
	l, err := rawsock.Listen(filepath.Join(share, "rawsock.sock"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	owner := func(uid uint32) (string, bool) {
		return s.Name, uid >= s.UIDBase && uid-s.UIDBase < s.UIDCount
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rawsock.Serve(ctx, l, rawsock.Config{
			Owner:     owner,
			Holders:   func() (*portmgr.Holders, error) { return portmgr.ReadHolders("/proc", owner, nil) },
			NodeAddrs: func() []netip.Addr { return []netip.Addr{p.SendIP} },
			NetNS:     p.SendNS,
			Log:       testutil.Logger(b),
		})
	}()
	b.Cleanup(func() { cancel(); <-done })
}

// rootRTT is the mean echo RTT of root's raw ICMP socket, in ns.
func rootRTT(b testing.TB, p *nettest.Pair, n int) int64 {
	var took int64
	err := nettest.InNS(p.SendNS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval(time.Second.Nanoseconds())
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		to := &unix.SockaddrInet4{Addr: p.RecvIP.As4()}
		buf := make([]byte, 1500)
		const id = 0x7777
		t0 := time.Now()
		for seq := range n {
			pkt := []byte{8, 0, 0, 0, id >> 8, id & 0xff, byte(seq >> 8), byte(seq), 'r', 't', 't', 0}
			binary.BigEndian.PutUint16(pkt[2:], checksum(pkt))
			if err := unix.Sendto(fd, pkt, 0, to); err != nil {
				return err
			}
			for {
				m, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					return err
				}
				ihl := int(buf[0]&0xf) * 4
				if m >= ihl+8 && buf[ihl] == 0 && binary.BigEndian.Uint16(buf[ihl+4:]) == id && binary.BigEndian.Uint16(buf[ihl+6:]) == uint16(seq) {
					break
				}
			}
		}
		took = time.Since(t0).Nanoseconds() / int64(n)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return took
}

// rootFlood is how long root's raw UDP socket takes to send n datagrams.
func rootFlood(b testing.TB, p *nettest.Pair, n int) int64 {
	wall, _ := flood(b, p, 0, 6001, n)
	return wall
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
