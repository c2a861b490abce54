package netfilter

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

var (
	rateSlivers = flag.String("rate.slivers", "0,5,1000,10000", "BenchmarkPacketRate: comma-separated numbers of slivers to load (0: no table)")
	rateRounds  = flag.Int("rate.rounds", 5, "BenchmarkPacketRate: interleaved rounds")
	rateWindow  = flag.Duration("rate.window", 500*time.Millisecond, "BenchmarkPacketRate: how long each sender sends in a round")
)

// rateDst is where the senders send: an address behind one end of a veth
// pair whose other end is down, so the pair drops what it is given and
// only the sending path is measured.
var rateDst = [4]byte{10, 99, 0, 2}

// rateBed is one throwaway namespace with N slivers' tagging loaded.
type rateBed struct {
	n      int
	ns     string
	tg     *Tagger // nil when n is 0
	sliver uint32  // a UID of the middle sliver
	add    []time.Duration
}

// BenchmarkPacketRate loads N slivers' tagging (the node's ruleset, log
// rules included) into a throwaway namespace for each N of -rate.slivers,
// then, in interleaved rounds, measures the UDP packets that one sender
// pushes out of each namespace as root and as a UID of a loaded sliver,
// per second and per CPU-second of the sender, and the time to add one
// more sliver (Set) at N. It prints a
// Markdown table of medians; run it alone, as root:
//
//	go test -run '^$' -bench PacketRate -benchtime 1x ./internal/netfilter
func BenchmarkPacketRate(b *testing.B) {
	testutil.RequireRoot(b)
	ctx := testutil.Context(b)
	var beds []*rateBed
	for i, f := range strings.Split(*rateSlivers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > MaxIndex-100 {
			b.Fatalf("-rate.slivers: bad number %q", f)
		}
		beds = append(beds, newRateBed(ctx, b, i, n))
	}
	type key struct {
		n    int
		root bool
	}
	pps, cpu := map[key][]float64{}, map[key][]float64{}
	for b.Loop() {
		for r := range *rateRounds {
			for _, bed := range beds {
				for _, root := range []bool{r%2 == 0, r%2 != 0} { // alternate who goes first
					uid := bed.sliver
					if root {
						uid = 0
					}
					r, err := blast(bed.ns, uid, *rateWindow)
					if err != nil {
						b.Fatal(err)
					}
					k := key{bed.n, root}
					pps[k], cpu[k] = append(pps[k], r.perSecond), append(cpu[k], r.perCPUSecond)
				}
				bed.timeAdd(ctx, b, r)
			}
		}
	}
	fmt.Printf("\nUDP packets out of one socket (64-byte datagrams, sendmmsg of 64) per second and per CPU-second of the sender, median of %d interleaved rounds of %v; time to Set one more sliver, median:\n\n", *rateRounds, *rateWindow)
	fmt.Println("| slivers | root pkt/s | root pkt/CPU-s | sliver pkt/s | sliver pkt/CPU-s | add one sliver |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, bed := range beds {
		add := "-"
		if bed.tg != nil {
			add = fmt.Sprintf("%.2f ms", float64(median(bed.add))/1e6)
		}
		r, u := key{bed.n, true}, key{bed.n, false}
		fmt.Printf("| %d | %.0f | %.0f | %.0f | %.0f | %s |\n", bed.n, median(pps[r]), median(cpu[r]), median(pps[u]), median(cpu[u]), add)
	}
}

// newRateBed makes a namespace whose only route out is a veth that drops,
// and loads n slivers (UID ranges of 65536 from 100000, as the node
// manager gives them) into a tagger there.
func newRateBed(ctx context.Context, b *testing.B, i, n int) *rateBed {
	name := fmt.Sprintf("orbistest-rate-%d-%d", os.Getpid(), i)
	for _, args := range [][]string{
		{"netns", "add", name},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"-n", name, "addr", "add", "10.99.0.1/24", "dev", "v0"},
		{"-n", name, "link", "set", "v0", "up"},
		{"-n", name, "neigh", "add", "10.99.0.2", "lladdr", "02:00:00:00:00:02", "dev", "v0", "nud", "permanent"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			b.Fatalf("ip %v: %v: %s", args, err, out)
		}
		if args[0] == "netns" {
			b.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
		}
	}
	bed := &rateBed{n: n, ns: "/run/netns/" + name, sliver: 100000 + uint32(n/2)*65536 + 7}
	if n == 0 {
		bed.sliver = 100007
		return bed
	}
	tg, err := New(Config{Table: fmt.Sprintf("orbistest_rate_%d", os.Getpid()), NetNS: bed.ns, LogGroup: 5})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tg.Close() })
	start := time.Now()
	for j := range n {
		s := Sliver{Name: fmt.Sprintf("s%05d", j), UIDBase: 100000 + uint32(j)*65536, UIDCount: 65536, Index: uint32(j + 1)}
		if err := tg.Set(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d slivers loaded in %v", n, time.Since(start))
	bed.tg = tg
	return bed
}

// timeAdd times the Set of one more sliver, then removes it.
func (bed *rateBed) timeAdd(ctx context.Context, b *testing.B, round int) {
	if bed.tg == nil {
		return
	}
	s := Sliver{Name: fmt.Sprintf("extra%d", round), UIDBase: 100000 + uint32(bed.n+1)*65536, UIDCount: 65536, Index: uint32(bed.n + 2)}
	start := time.Now()
	if err := bed.tg.Set(ctx, s); err != nil {
		b.Fatal(err)
	}
	bed.add = append(bed.add, time.Since(start))
	if err := bed.tg.Remove(ctx, s.Name); err != nil {
		b.Fatal(err)
	}
}

// rate is what one sender achieved: packets per second of wall time, and
// per second of its thread's CPU time (which other jobs on the machine
// disturb much less).
type rate struct{ perSecond, perCPUSecond float64 }

// blast sends 64-byte UDP datagrams to rateDst from a socket owned by uid
// in namespace ns for d.
func blast(ns string, uid uint32, d time.Duration) (rate, error) {
	var sent int
	var took, cpu time.Duration
	err := nettest.InNS(ns, func() error {
		unix.Setfsuid(int(uid))
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		unix.Setfsuid(0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrInet4{Port: 9, Addr: rateDst}); err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		buf := make([]byte, 64)
		iov := unix.Iovec{Base: &buf[0]}
		iov.SetLen(len(buf))
		msgs := make([]unix.Mmsghdr, 64)
		for i := range msgs {
			msgs[i].Hdr.Iov = &iov
			msgs[i].Hdr.SetIovlen(1)
		}
		cpu0, start := threadCPU(), time.Now()
		for took = 0; took < d; took = time.Since(start) {
			n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
			if errno != 0 && errno != unix.ENOBUFS {
				return fmt.Errorf("sendmmsg: %w", errno)
			}
			sent += int(n)
		}
		cpu = threadCPU() - cpu0
		return nil
	})
	return rate{float64(sent) / took.Seconds(), float64(sent) / cpu.Seconds()}, err
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median[T int64 | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
