//go:build linux

// This file builds throwaway testbeds for network tests run as root:
// two network namespaces joined by a veth pair, a UDP sender that runs with
// a chosen host UID inside the sending namespace (a re-exec of the test
// binary, as a sliver's process would be), and a receiver in the peer
// namespace that counts what arrives. Nothing ever leaves the two
// namespaces. Only tests import it.
//
// A test binary that starts senders must call reexec.Init first thing in
// TestMain.

package nettest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Pair is two network namespaces joined by a veth pair: Send (10.201.x.1,
// fd00:...::1) and Recv (.2, ::2).
type Pair struct {
	SendNS, RecvNS   string // namespace paths under /run/netns
	SendDev, RecvDev string // veth ends, one in each
	SendIP, RecvIP   netip.Addr
	SendIP6, RecvIP6 netip.Addr
}

var pairs atomic.Int32

// NewPair creates a Pair whose names carry the "obt" prefix, this
// process's pid and a counter; t.Cleanup deletes both namespaces (which
// deletes the veth, its qdiscs and any nftables tables in them).
func NewPair(t testing.TB) *Pair {
	t.Helper()
	n := pairs.Add(1)
	id := fmt.Sprintf("%d-%d", os.Getpid(), n)
	sendNS, recvNS := "orbistest-s"+id, "orbistest-r"+id
	p := &Pair{
		SendNS: "/run/netns/" + sendNS, RecvNS: "/run/netns/" + recvNS,
		SendDev: fmt.Sprintf("obts%d", os.Getpid()*10+int(n)%10), RecvDev: fmt.Sprintf("obtr%d", os.Getpid()*10+int(n)%10),
		SendIP: netip.MustParseAddr("10.201.0.1"), RecvIP: netip.MustParseAddr("10.201.0.2"),
		SendIP6: netip.MustParseAddr("fd00:201::1"), RecvIP6: netip.MustParseAddr("fd00:201::2"),
	}
	t.Cleanup(func() {
		for _, ns := range []string{sendNS, recvNS} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil && !strings.Contains(string(out), "No such") {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	run(t, "netns", "add", sendNS)
	run(t, "netns", "add", recvNS)
	run(t, "link", "add", p.SendDev, "netns", sendNS, "type", "veth", "peer", "name", p.RecvDev, "netns", recvNS)
	for _, side := range []struct{ ns, dev, ip, ip6 string }{
		{sendNS, p.SendDev, "10.201.0.1/24", "fd00:201::1/64"},
		{recvNS, p.RecvDev, "10.201.0.2/24", "fd00:201::2/64"},
	} {
		run(t, "-n", side.ns, "addr", "add", side.ip, "dev", side.dev)
		run(t, "-n", side.ns, "addr", "add", side.ip6, "dev", side.dev, "nodad")
		run(t, "-n", side.ns, "link", "set", side.dev, "up")
		run(t, "-n", side.ns, "link", "set", "lo", "up")
	}
	waitCarrier(t, recvNS, p.RecvDev)
	waitCarrier(t, sendNS, p.SendDev)
	return p
}

// waitCarrier waits for the kernel to report the link's carrier, which
// takes up to a second after both ends are up (IPv6 ignores a link without
// carrier).
func waitCarrier(t testing.TB, ns, dev string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("ip", "-n", ns, "-br", "link", "show", "dev", dev).Output()
		if f := strings.Fields(string(out)); len(f) > 1 && f[1] == "UP" {
			return
		}
	}
	t.Fatalf("%s in %s: no carrier after 5s", dev, ns)
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// InNS runs fn on a thread inside the namespace at path and returns there
// to the caller's namespace. Sockets fn opens stay in that namespace.
func InNS(path string, fn func() error) error {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread is locked and never unlocked: if returning fails,
		// the goroutine's exit destroys the thread.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("return from netns: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Counter counts the UDP datagrams one receiver socket got.
type Counter struct {
	fd      int
	packets atomic.Uint64
	bytes   atomic.Uint64
	wg      sync.WaitGroup
}

// Listen opens a UDP socket on port in p's receiving namespace (IPv4 and
// IPv6) and counts what arrives until the test ends. With echo, it sends
// each datagram back (so the sender's connection sees replies).
func Listen(t testing.TB, p *Pair, port int, echo bool) *Counter {
	t.Helper()
	c := &Counter{}
	err := InNS(p.RecvNS, func() error {
		fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("socket: %w", err)
		}
		c.fd = fd
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0)
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		return unix.Bind(fd, &unix.SockaddrInet6{Port: port})
	})
	if err != nil {
		t.Fatalf("listen on port %d: %v", port, err)
	}
	tv := unix.Timeval{Usec: 100000}
	unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var stop atomic.Bool
	c.wg.Add(1)
	go c.loop(&stop, echo)
	t.Cleanup(func() {
		stop.Store(true)
		c.wg.Wait()
		unix.Close(c.fd)
	})
	return c
}

func (c *Counter) loop(stop *atomic.Bool, echo bool) {
	defer c.wg.Done()
	buf := make([]byte, 65536)
	for !stop.Load() {
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue
		}
		c.packets.Add(1)
		c.bytes.Add(uint64(n))
		if echo {
			unix.Sendto(c.fd, buf[:n], 0, from)
		}
	}
}

// Packets and Bytes are the counts so far (UDP payload bytes).
func (c *Counter) Packets() uint64 { return c.packets.Load() }

// Bytes is the UDP payload received so far.
func (c *Counter) Bytes() uint64 { return c.bytes.Load() }

// WireOverhead is what an IPv4 UDP datagram adds on a veth: Ethernet (14),
// IPv4 (20) and UDP (8) headers. HTB counts these bytes too.
const WireOverhead = 14 + 20 + 8

// Rates measures, after a warm-up, what each counter received over window,
// in kbit/s on the wire (payload plus WireOverhead per packet).
func Rates(warmup, window time.Duration, cs ...*Counter) []float64 {
	time.Sleep(warmup)
	type snap struct{ p, b uint64 }
	before := make([]snap, len(cs))
	for i, c := range cs {
		before[i] = snap{c.Packets(), c.Bytes()}
	}
	start := time.Now()
	time.Sleep(window)
	secs := time.Since(start).Seconds()
	out := make([]float64, len(cs))
	for i, c := range cs {
		p, b := c.Packets()-before[i].p, c.Bytes()-before[i].b
		out[i] = float64(b+p*WireOverhead) * 8 / 1000 / secs
	}
	return out
}
