package rawfd

import (
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
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
// sockets beside root's and the raw socket service's:
//
//	rtt/root         root's raw ICMP socket, in the test process
//	rtt/sliver-raw   an unprivileged sliver user's socket(SOCK_RAW)
//	rtt/sliver-ping  the same user's ICMP datagram socket
//	rtt/sliver-relay the same user through the raw socket service
//	pps/root, pps/sliver-raw: 512-byte UDP datagrams sent through a raw
//	UDP socket as fast as it goes
//
// Each reports its own metric (ns/rtt or pkt/s), measured inside the
// sliver's program, so that starting it is not counted.
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
	const rounds, floods = 2000, 50000
	metric := func(b *testing.B, out, unit string, scale func(int64) float64) {
		ns, err := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
		if err != nil {
			b.Fatalf("probe: %q", out)
		}
		b.ReportMetric(scale(ns), unit)
	}
	perRTT := func(ns int64) float64 { return float64(ns) }
	perSec := func(ns int64) float64 { return floods * 1e9 / float64(ns) }
	b.Run("rtt/root", func(b *testing.B) {
		for b.Loop() {
			metric(b, strconv.FormatInt(rootRTT(b, p, rounds), 10), "ns/rtt", perRTT)
		}
	})
	for _, m := range []struct{ name, mode string }{{"sliver-raw", "rtt"}, {"sliver-ping", "dgramrtt"}} {
		b.Run("rtt/"+m.name, func(b *testing.B) {
			for b.Loop() {
				metric(b, s.probe(b, m.mode, peer, strconv.Itoa(rounds)), "ns/rtt", perRTT)
			}
		})
	}
	b.Run("rtt/sliver-relay", func(b *testing.B) {
		for b.Loop() {
			metric(b, s.probe(b, "relayrtt", "/run/orbis/rawsock.sock", peer, strconv.Itoa(rounds)), "ns/rtt", perRTT)
		}
	})
	b.Run("pps/root", func(b *testing.B) {
		for b.Loop() {
			metric(b, strconv.FormatInt(rootFlood(b, p, floods), 10), "pkt/s", perSec)
		}
	})
	b.Run("pps/sliver-raw", func(b *testing.B) {
		for b.Loop() {
			metric(b, s.probe(b, "flood", peer, "6000", "5555", strconv.Itoa(floods)), "pkt/s", perSec)
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
