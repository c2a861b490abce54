package rawfd

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
)

// BenchmarkTableCost measures what the table costs a raw socket's
// packet, without a sliver: in rounds that alternate, root's raw UDP
// socket as it is (unmarked) and the same with a slice's raw socket mark
// and a port the slice holds, each flooding 512-byte datagrams. It
// reports the median rate of each (pkt/s) in the sending thread's CPU
// time, which other loads on the machine disturb less than the wall
// clock, and the median of the rounds' ratios.
func BenchmarkTableCost(b *testing.B) {
	p := nettest.NewPair(b)
	srv := newServer(b, p, func(string) ([]Port, error) { return []Port{{17, 6000}}, nil })
	const index = 42
	if err := srv.nft.setSlice(index, true); err != nil {
		b.Fatal(err)
	}
	if err := srv.nft.setPorts(RawMark(index), nil, map[Port]bool{{17, 6000}: true}); err != nil {
		b.Fatal(err)
	}
	nettest.Listen(b, p, 5555, false)
	const rounds, n = 15, 20000
	for b.Loop() {
		var root, marked, ratio []float64
		for range rounds {
			r := float64(n) * 1e9 / float64(markedFlood(b, p, 0, 6001, n))
			m := float64(n) * 1e9 / float64(markedFlood(b, p, RawMark(index), 6000, n))
			root, marked, ratio = append(root, r), append(marked, m), append(ratio, m/r)
		}
		for _, xs := range [][]float64{root, marked, ratio} {
			slices.Sort(xs)
		}
		b.ReportMetric(root[rounds/2], "root-pkt/s")
		b.ReportMetric(marked[rounds/2], "slice-pkt/s")
		b.ReportMetric(ratio[rounds/2], "slice/root")
	}
}

// markedFlood is how much CPU time the sending thread spends to send n
// datagrams through a raw UDP socket with mark from sport.
func markedFlood(b testing.TB, p *nettest.Pair, mark uint32, sport uint16, n int) int64 {
	_, cpu := flood(b, p, mark, sport, n)
	return cpu
}

// flood sends n 512-byte datagrams to the peer's port 5555 from sport
// through a raw UDP socket with mark (none if 0), as fast as it goes, and
// returns how long it took and the CPU time of the sending thread, in ns.
func flood(b testing.TB, p *nettest.Pair, mark uint32, sport uint16, n int) (wall, cpu int64) {
	err := nettest.InNS(p.SendNS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if mark != 0 {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
				return err
			}
		}
		seg := make([]byte, 8+512)
		binary.BigEndian.PutUint16(seg[0:], sport)
		binary.BigEndian.PutUint16(seg[2:], 5555)
		binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
		to := &unix.SockaddrInet4{Addr: p.RecvIP.As4()}
		var r0, r1 unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &r0)
		t0 := time.Now()
		for range n {
			if err := unix.Sendto(fd, seg, 0, to); err != nil && err != unix.ENOBUFS {
				return err
			}
		}
		wall = time.Since(t0).Nanoseconds()
		unix.Getrusage(unix.RUSAGE_THREAD, &r1)
		cpu = r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano()
		return nil
	})
	if err != nil {
		b.Fatal(fmt.Errorf("flood: %w", err))
	}
	return wall, cpu
}
