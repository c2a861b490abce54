package rawsock

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
)

// Ports of the benchmark's peer (namespace R): the echo server answers
// every datagram, the sink counts them.
const (
	benchEchoPort = 7000
	benchSinkPort = 7001
	benchPayload  = 512
)

// BenchmarkRawSocket compares a safe raw socket (an unprivileged sliver
// process through the service, as TestService runs it) with a root raw
// socket (IPPROTO_RAW, in the same namespace) on the same path A - R:
// Throughput sends 512-byte UDP payloads (one op = one packet), RTT
// sends one to an echo server and waits for the reply (one op = one
// round trip). "safe" sends with Queue (protocol version 2, pipelined
// and batched; Flush at the end, inside the timing), "safe-sync" with
// the synchronous Send (one request and answer per packet).
func BenchmarkRawSocket(b *testing.B) {
	b.StopTimer()
	c := newChain(b)
	dir, err := os.MkdirTemp("", "orbistest-rawsock-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	sock := dir + "/rawsock.sock"
	uid := uint32(1_900_000_000 + os.Getpid()%100000*10)
	startService(b, c, sock, uid, nil)
	sunk := benchPeer(b, c)
	root := newRootRaw(b, c)

	for _, mode := range []string{"throughput", "rtt"} {
		for _, api := range []string{"queue", "sync"} {
			name := mode + "/safe"
			if api == "sync" {
				name += "-sync"
			}
			b.Run(name, func(b *testing.B) {
				p := startSliver(b, c.A, dir, uid, sock, "bench", mode, api, c.a.String(), c.ra.String(), strconv.Itoa(b.N))
				var ns int64
				if _, err := fmt.Sscanf(p.line(b), "elapsed=%d", &ns); err != nil {
					b.Fatal(err)
				}
				p.lines(b)
				report(b, mode, ns)
			})
		}
		b.Run(mode+"/root", func(b *testing.B) {
			start := time.Now()
			if err := root.run(mode, b.N); err != nil {
				b.Fatal(err)
			}
			report(b, mode, time.Since(start).Nanoseconds())
		})
	}
	b.Logf("the sink in R received %d packets", sunk.Load())
}

// report sets ns/op from the measured elapsed time and adds packets per
// second or the round trip in microseconds.
func report(b *testing.B, mode string, ns int64) {
	b.ReportMetric(float64(ns)/float64(b.N), "ns/op")
	if mode == "throughput" {
		b.ReportMetric(float64(b.N)/(float64(ns)/1e9), "pkts/s")
	} else {
		b.ReportMetric(float64(ns)/float64(b.N)/1e3, "µs/rtt")
	}
}

// benchPeer starts the echo server and the sink in R; it returns the
// sink's packet count.
func benchPeer(b *testing.B, c *chain) *atomic.Int64 {
	var echo, sink *net.UDPConn
	err := nettest.InNS(c.R, func() (err error) {
		if echo, err = net.ListenUDP("udp4", &net.UDPAddr{IP: c.ra.AsSlice(), Port: benchEchoPort}); err != nil {
			return err
		}
		sink, err = net.ListenUDP("udp4", &net.UDPAddr{IP: c.ra.AsSlice(), Port: benchSinkPort})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { echo.Close(); sink.Close() })
	sink.SetReadBuffer(4 << 20)
	var n atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := echo.ReadFromUDP(buf)
			if err != nil {
				return
			}
			echo.WriteToUDP(buf[:k], from)
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return &n
}

// rootRaw is what a privileged program uses: IPPROTO_RAW to send, a raw
// UDP socket to receive, both in the node's namespace A.
type rootRaw struct {
	send, recv int
	c          *chain
}

func newRootRaw(b *testing.B, c *chain) *rootRaw {
	r := &rootRaw{send: -1, recv: -1, c: c}
	b.Cleanup(func() { unix.Close(r.send); unix.Close(r.recv) })
	err := nettest.InNS(c.A, func() (err error) {
		if r.send, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return err
		}
		r.recv, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	unix.SetsockoptTimeval(r.recv, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 2})
	return r
}

// run sends n packets (throughput) or makes n round trips (rtt).
func (r *rootRaw) run(mode string, n int) error {
	port := uint16(benchSinkPort)
	if mode == "rtt" {
		port = benchEchoPort
	}
	pkt := ip(r.c.a, r.c.ra, wire.ProtoUDP, udpSeg(5000, port, strings.Repeat("o", benchPayload)))
	to := &unix.SockaddrInet4{Addr: r.c.ra.As4()}
	buf := make([]byte, 2048)
	for { // drop what earlier runs left in the receive queue
		if _, _, err := unix.Recvfrom(r.recv, buf, unix.MSG_DONTWAIT); err != nil && err != unix.EINTR {
			break
		}
	}
	for range n {
		if err := unix.Sendto(r.send, pkt, 0, to); err != nil {
			return fmt.Errorf("sendto: %w", err)
		}
		if mode == "rtt" {
			if err := r.awaitEcho(buf); err != nil {
				return err
			}
		}
	}
	return nil
}

// awaitEcho reads the raw UDP socket until the echo's reply to port 5000.
func (r *rootRaw) awaitEcho(buf []byte) error {
	for {
		k, _, err := unix.Recvfrom(r.recv, buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("receive echo: %w", err)
		}
		if isEcho(buf[:k]) {
			return nil
		}
	}
}

// isEcho reports whether p is an IPv4 UDP packet from the echo port to 5000.
func isEcho(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 || p[9] != 17 {
		return false
	}
	l4 := p[int(p[0]&0xf)*4:]
	return len(l4) >= 8 && binary.BigEndian.Uint16(l4) == benchEchoPort && binary.BigEndian.Uint16(l4[2:]) == 5000
}

// childBench is the sliver's side of BenchmarkRawSocket: args are the
// mode, the API (queue or sync), the node's and the peer's addresses and
// the count. It prints the elapsed time in nanoseconds.
func childBench(ctx context.Context, sock string, args []string) error {
	mode, api := args[0], args[1]
	node, peer := netip.MustParseAddr(args[2]), netip.MustParseAddr(args[3])
	n, err := strconv.Atoi(args[4])
	if err != nil {
		return err
	}
	c, err := wire.Dial(ctx, sock, wire.ProtoUDP, 5000)
	if err != nil {
		return err
	}
	defer c.Close()
	port := uint16(benchSinkPort)
	if mode == "rtt" {
		port = benchEchoPort
	}
	pkt := ip(node, peer, wire.ProtoUDP, udpSeg(5000, port, strings.Repeat("o", benchPayload)))
	send := func() error { return c.Send(ctx, pkt) }
	if api == "queue" {
		send = func() error { _, err := c.Queue(ctx, pkt); return err }
	}
	start := time.Now()
	for range n {
		if err := send(); err != nil {
			return err
		}
		if mode != "rtt" {
			continue
		}
		for {
			p, err := c.Receive(ctx)
			if err != nil {
				return err
			}
			if isEcho(p) {
				break
			}
		}
	}
	if err := c.Flush(ctx); err != nil {
		return err
	}
	fmt.Printf("elapsed=%d\n", time.Since(start).Nanoseconds())
	return nil
}
