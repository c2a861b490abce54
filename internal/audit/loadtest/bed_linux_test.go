package loadtest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/audit"
	"github.com/orbisproject/orbis/internal/netfilter"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/sniff"
	"github.com/orbisproject/orbis/internal/testutil"
)

// sniffGroup is the NFLOG group of the stream in the sending namespace
// (groups are per namespace).
const sniffGroup = 5

// Ports the receivers listen on.
const (
	udpPort = 9000
	tcpPort = 9001
)

// mode is how much of the auditor a bed runs.
type mode int

const (
	// tagged: the tagger alone, without a log rule (a node without the
	// auditor).
	tagged mode = iota
	// logged: the tagger's log rules and the stream reading them, with no
	// subscriber.
	logged
	// audited: the tagger, the stream and the auditor, as `orbis node`
	// runs them.
	audited
)

func (m mode) String() string { return [...]string{"tagged", "logged", "audited"}[m] }

// bed is a node in a namespace (the sending end of a nettest.Pair) with
// one slice tagged, and as much of the auditor as its mode says.
type bed struct {
	pair    *nettest.Pair
	tagger  *netfilter.Tagger
	slice   netfilter.Sliver
	stream  *sniff.Stream  // nil if tagged
	auditor *audit.Auditor // nil unless audited
	tcpRead *atomic.Uint64 // bytes its TCP sink read, once it has one
}

// newBed builds a bed; t.Cleanup takes it down. The sending namespace has
// IPv6 disabled, so that its only IP traffic is the test's (IPv6 would
// send neighbour discovery and MLD packets of its own).
func newBed(t testing.TB, m mode) *bed {
	return newBedBuffer(t, m, 0)
}

// newBedBuffer is newBed with the stream's socket buffer of the given
// size (0: the default).
func newBedBuffer(t testing.TB, m mode, readBuffer int) *bed {
	t.Helper()
	b := &bed{pair: nettest.NewPair(t)}
	if out, err := exec.Command("ip", "netns", "exec", filepath.Base(b.pair.SendNS),
		"sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").CombinedOutput(); err != nil {
		t.Fatalf("disable IPv6: %v: %s", err, out)
	}
	cfg := netfilter.Config{Table: fmt.Sprintf("orbistest_load%d", os.Getpid()), NetNS: b.pair.SendNS, Log: testutil.Logger(t)}
	if m != tagged {
		cfg.LogGroup = sniffGroup
	}
	var err error
	if b.tagger, err = netfilter.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.tagger.Close() })
	b.slice = netfilter.Sliver{Name: "orbistest-load", Index: 1, UIDCount: 16,
		UIDBase: 1_700_000_000 + uint32(os.Getpid()%100_000)*16}
	if err := b.tagger.Set(context.Background(), b.slice); err != nil {
		t.Fatal(err)
	}
	if m != tagged {
		b.start(t, m == audited, readBuffer)
	}
	return b
}

// start reads the log group into a stream and, if asked, records the
// stream with an auditor of the default size, until the test ends.
func (b *bed) start(t testing.TB, withAuditor bool, readBuffer int) {
	t.Helper()
	src, err := sniff.Open(sniff.Config{Group: sniffGroup, NetNS: b.pair.SendNS, Log: testutil.Logger(t), ReadBuffer: readBuffer, Slice: b.tagger.SliceOfMark})
	if err != nil {
		t.Fatal(err)
	}
	b.stream = sniff.NewStream()
	ctx, stop := context.WithCancel(context.Background())
	ran, recorded := make(chan error, 1), make(chan struct{})
	go func() { ran <- src.Run(ctx, b.stream) }()
	if withAuditor {
		if b.auditor, err = audit.New(audit.Config{Source: b.stream, Logger: testutil.Logger(t)}); err != nil {
			stop()
			t.Fatal(err)
		}
		go func() { b.auditor.Run(ctx); close(recorded) }()
	} else {
		close(recorded)
	}
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("sniffer stream: %v", err)
		}
		<-recorded
	})
}

// sent is how many packets the slice sent, by its tagging counter.
func (b *bed) sent(t testing.TB) uint64 {
	t.Helper()
	cs, err := b.tagger.Counters(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cs[b.slice.Name].TxPackets
}

// udpSink binds a UDP socket on udpPort in the receiving namespace and
// never reads it: datagrams reach the receiver's stack (its veth counts
// them) and are dropped when the socket is full, without an ICMP error
// that would disturb the senders.
func (b *bed) udpSink(t testing.TB) {
	t.Helper()
	var fd int
	err := nettest.InNS(b.pair.RecvNS, func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Port: udpPort})
	})
	if err != nil {
		t.Fatalf("udp sink: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
}

// tcpSink accepts TCP connections on tcpPort in the receiving namespace
// and counts the bytes it reads from them.
func (b *bed) tcpSink(t testing.TB) *atomic.Uint64 {
	t.Helper()
	var ln net.Listener
	err := nettest.InNS(b.pair.RecvNS, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", tcpPort))
		return err
	})
	if err != nil {
		t.Fatalf("tcp sink: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Uint64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				for {
					k, err := c.Read(buf)
					n.Add(uint64(k))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return &n
}

// rxPackets is how many packets the receiving end of the veth got.
func (b *bed) rxPackets(t testing.TB) uint64 {
	t.Helper()
	ns, err := netns.GetFromPath(b.pair.RecvNS)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(b.pair.RecvDev)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().Statistics.RxPackets
}

// sendAs sends one datagram to the UDP sink from a socket the slice's
// first UID owns (the socket's owner is its creator's filesystem UID).
func (b *bed) sendAs(t testing.TB, uid uint32) {
	t.Helper()
	err := nettest.InNS(b.pair.SendNS, func() error {
		unix.Setfsuid(int(uid))
		defer unix.Setfsuid(0)
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, []byte("orbistest-marker"), 0, &unix.SockaddrInet4{Port: udpPort, Addr: b.pair.RecvIP.As4()})
	})
	if err != nil {
		t.Fatalf("send as uid %d: %v", uid, err)
	}
}

// udpTo and tcpTo are the sinks' addresses.
func (b *bed) udpTo() netip.AddrPort { return netip.AddrPortFrom(b.pair.RecvIP, udpPort) }
func (b *bed) tcpTo() netip.AddrPort { return netip.AddrPortFrom(b.pair.RecvIP, tcpPort) }
