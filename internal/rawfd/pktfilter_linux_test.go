package rawfd

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/testutil"
)

// frame4 is an Ethernet frame to this host (as the kernel's test run sees
// it, on loopback) carrying an IPv4 packet of proto with payload l4.
func frame4(src, dst net.IP, proto byte, l4 []byte) []byte {
	f := make([]byte, 14, 14+20+len(l4))
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := make([]byte, 20)
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
	copy(ip[12:], src.To4())
	copy(ip[16:], dst.To4())
	return append(append(f, ip...), l4...)
}

// frame6 is frame4 for IPv6.
func frame6(src, dst net.IP, next byte, l4 []byte) []byte {
	f := make([]byte, 14, 14+40+len(l4))
	binary.BigEndian.PutUint16(f[12:], 0x86dd)
	ip := make([]byte, 40)
	ip[0], ip[6], ip[7] = 0x60, next, 64
	binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
	copy(ip[8:], src.To16())
	copy(ip[24:], dst.To16())
	return append(append(f, ip...), l4...)
}

func ports(sport, dport uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	return b
}

func icmp4(typ byte, id uint16, rest []byte) []byte {
	b := make([]byte, 8)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	return append(b, rest...)
}

// TestPacketFilterVerdicts runs the packet sockets' filter of one slice
// on frames received by the node: its own ports and ICMP errors about
// them pass; another slice's, the node's, later fragments and echo
// replies of flows it did not start do not.
func TestPacketFilterVerdicts(t *testing.T) {
	testutil.RequireRoot(t)
	f, err := newPktFilter()
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	const mine, theirs = 7, 8
	if err := f.setPorts(mine, nil, map[Port]bool{{17, 5000}: true, {6, 6000}: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.setPorts(theirs, nil, map[Port]bool{{17, 5001}: true}); err != nil {
		t.Fatal(err)
	}
	prog, err := f.prog(mine)
	if err != nil {
		t.Fatal(err)
	}
	peer, node := net.IPv4(10, 9, 0, 2), net.IPv4(10, 9, 0, 1)
	peer6, node6 := net.ParseIP("fd00:9::2"), net.ParseIP("fd00:9::1")
	if err := f.setAddrs(map[netip.Addr]bool{netip.MustParseAddr("10.9.0.1"): true, netip.MustParseAddr("fd00:9::1"): true}); err != nil {
		t.Fatal(err)
	}
	laterFrag := frame4(peer, node, 17, ports(53, 5000))
	laterFrag[14+6] = 0x01               // fragment offset 256 bytes
	quote := func(sport uint16) []byte { // an ICMP error about node:sport -> peer:53
		return icmp4(3, 0, frame4(node, peer, 17, ports(sport, 53))[14:])
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		pass  bool
	}{
		{"udp to its port", frame4(peer, node, 17, ports(53, 5000)), true},
		{"tcp to its port", frame4(peer, node, 6, ports(80, 6000)), true},
		{"udp to its port at another host (forwarded)", frame4(peer, net.IPv4(10, 9, 1, 2), 17, ports(53, 5000)), false},
		{"ipv6 udp to its port at another host (forwarded)", frame6(peer6, net.ParseIP("fd00:9:1::2"), 17, ports(53, 5000)), false},
		{"udp to another slice's port", frame4(peer, node, 17, ports(53, 5001)), false},
		{"tcp to the node's ssh", frame4(peer, node, 6, ports(40000, 22)), false},
		{"its port as the peer's source", frame4(peer, node, 17, ports(5000, 53)), false},
		{"later fragment", laterFrag, false},
		{"icmp error about its flow", frame4(peer, node, 1, quote(5000)), true},
		{"icmp error about another's flow", frame4(peer, node, 1, quote(5001)), false},
		{"echo reply of no flow of its", frame4(peer, node, 1, icmp4(0, 77, nil)), false},
		{"echo request to the node", frame4(peer, node, 1, icmp4(8, 77, nil)), false},
		{"short", frame4(peer, node, 17, []byte{1}), false},
		{"ipv6 udp to its port", frame6(peer6, node6, 17, ports(53, 5000)), true},
		{"ipv6 udp to another slice's port", frame6(peer6, node6, 17, ports(53, 5001)), false},
		{"ipv6 behind an extension header", frame6(peer6, node6, 0, append([]byte{17, 0, 0, 0, 0, 0, 0, 0}, ports(53, 5000)...)), false},
		{"icmpv6 error about its flow", frame6(peer6, node6, 58, icmp4(1, 0, frame6(node6, peer6, 17, ports(5000, 53))[14:])), true},
		{"icmpv6 error about another's flow", frame6(peer6, node6, 58, icmp4(1, 0, frame6(node6, peer6, 17, ports(5001, 53))[14:])), false},
		{"icmpv6 echo reply of no flow of its", frame6(peer6, node6, 58, icmp4(129, 77, nil)), false},
		{"neighbour solicitation", frame6(peer6, node6, 58, icmp4(135, 0, nil)), false},
	} {
		ret, err := prog.Run(&ebpf.RunOptions{Data: tc.frame})
		if err != nil {
			t.Fatalf("%s: run: %v", tc.name, err)
		}
		if got := ret != 0; got != tc.pass {
			t.Errorf("%s: filter returned %#x, want pass=%v", tc.name, ret, tc.pass)
		}
	}
}

// BenchmarkPacketFilter is the filter's cost per frame (the kernel's test
// run, repeated), on a frame of the slice's flow and on one it drops.
func BenchmarkPacketFilter(b *testing.B) {
	testutil.RequireRoot(b)
	f, err := newPktFilter()
	if err != nil {
		b.Fatal(err)
	}
	defer f.close()
	if err := f.setPorts(7, nil, map[Port]bool{{17, 5000}: true}); err != nil {
		b.Fatal(err)
	}
	prog, err := f.prog(7)
	if err != nil {
		b.Fatal(err)
	}
	peer, node := net.IPv4(10, 9, 0, 2), net.IPv4(10, 9, 0, 1)
	if err := f.setAddrs(map[netip.Addr]bool{netip.MustParseAddr("10.9.0.1"): true}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"own", frame4(peer, node, 17, ports(53, 5000))},
		{"other", frame4(peer, node, 6, ports(40000, 22))},
		{"icmp-error", frame4(peer, node, 1, icmp4(3, 0, frame4(node, peer, 17, ports(5000, 53))[14:]))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, d, err := prog.Benchmark(bc.frame, b.N, b.ResetTimer)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(d.Nanoseconds()), "ns/frame")
		})
	}
}

// TestPacketFilterEchoExpires: an echo flow the learner saw a slice's raw
// socket start admits its replies for pingTimeout, as the table's echo
// flows last, and no longer.
func TestPacketFilterEchoExpires(t *testing.T) {
	testutil.RequireRoot(t)
	f, err := newPktFilter()
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	const mine = 7
	if err := f.setAddrs(map[netip.Addr]bool{netip.MustParseAddr("10.9.0.1"): true}); err != nil {
		t.Fatal(err)
	}
	prog, err := f.prog(mine)
	if err != nil {
		t.Fatal(err)
	}
	peer, node := net.IPv4(10, 9, 0, 2), net.IPv4(10, 9, 0, 1)
	var key [echoKeySize]byte
	binary.NativeEndian.PutUint32(key[0:], binary.BigEndian.Uint32(peer.To4()))
	binary.NativeEndian.PutUint32(key[16:], 77)
	binary.NativeEndian.PutUint32(key[20:], 4)
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		age  time.Duration
		pass bool
	}{
		{"fresh", time.Second, true},
		{"expired", pingTimeout + time.Second, false},
	} {
		var val [echoValSize]byte
		binary.NativeEndian.PutUint32(val[0:], mine)
		binary.NativeEndian.PutUint64(val[8:], uint64(now.Nano()-tc.age.Nanoseconds()))
		if err := f.echo.Put(key, val); err != nil {
			t.Fatal(err)
		}
		ret, err := prog.Run(&ebpf.RunOptions{Data: frame4(peer, node, 1, icmp4(0, 77, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if (ret != 0) != tc.pass {
			t.Errorf("%s echo flow: filter returned %d, want pass %v", tc.name, ret, tc.pass)
		}
	}
}
