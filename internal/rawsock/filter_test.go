package rawsock

import (
	"encoding/binary"
	"net/netip"
	"testing"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// runBPF interprets the classic BPF instructions Filter emits, as the
// kernel would on a SOCK_DGRAM packet socket: a load past the end of the
// packet drops it.
func runBPF(t testing.TB, prog []Insn, pkt []byte, pktType uint32) uint32 {
	return runBPFOn(t, prog, pkt, pktType, 1 /* ARPHRD_ETHER */)
}

// runBPFOn is runBPF for a packet on a device of type hatype.
func runBPFOn(t testing.TB, prog []Insn, pkt []byte, pktType, hatype uint32) uint32 {
	var a, x uint32
	load := func(off uint32, size int) (uint32, bool) {
		if int(off)+size > len(pkt) || int(off) < 0 {
			return 0, false
		}
		switch size {
		case 1:
			return uint32(pkt[off]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return binary.BigEndian.Uint32(pkt[off:]), true
	}
	sizes := map[uint16]int{bpfW: 4, bpfH: 2, bpfB: 1}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		var ok = true
		switch {
		case in.Code == bpfLD|bpfW|bpfABS && in.K == skfPktType:
			a = pktType
		case in.Code == bpfLD|bpfW|bpfABS && in.K == skfHatype:
			a = hatype
		case in.Code&0x07 == bpfLD && in.Code&0xe0 == bpfABS:
			a, ok = load(in.K, sizes[in.Code&0x18])
		case in.Code&0x07 == bpfLD && in.Code&0xe0 == bpfIND:
			a, ok = load(x+in.K, sizes[in.Code&0x18])
		case in.Code == bpfLDX|bpfB|bpfMSH:
			x, ok = load(in.K, 1)
			x = 4 * (x & 0xf)
		case in.Code == bpfLDX:
			x = in.K
		case in.Code == bpfALU|bpfRSH:
			a >>= in.K
		case in.Code == bpfALU|bpfAND:
			a &= in.K
		case in.Code == bpfALU|bpfLSH:
			a <<= in.K
		case in.Code == bpfALU|bpfADD|bpfX:
			a += x
		case in.Code == bpfMISC|bpfTAX:
			x = a
		case in.Code == bpfJMP|bpfJA:
			pc += int(in.K)
		case in.Code == bpfJMP|bpfJEQ, in.Code == bpfJMP|bpfJSET:
			hit := a == in.K
			if in.Code == bpfJMP|bpfJSET {
				hit = a&in.K != 0
			}
			if hit {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case in.Code == bpfRET:
			return in.K
		default:
			t.Fatalf("instruction %d: opcode %#x not interpreted", pc, in.Code)
		}
		if !ok {
			return 0
		}
	}
	t.Fatal("program ran off its end")
	return 0
}

// receivedCases are packets a node may receive, for bindings udp/5000,
// tcp/5000 and icmp id 77.
var receivedCases = []struct {
	name string
	pkt  []byte
	want []Binding // the bindings that want it
}{
	{"udp4-to-5000", ip(peer4, node4, 17, udpSeg(53, 5000, "a")), []Binding{udp5000}},
	{"udp6-to-5000", ip(peer6, node6, 17, udpSeg(53, 5000, "a")), []Binding{udp5000}},
	{"udp4-to-5001", ip(peer4, node4, 17, udpSeg(53, 5001, "a")), nil},
	{"udp4-from-5000", ip(peer4, node4, 17, udpSeg(5000, 53, "a")), nil},
	{"tcp4-to-5000", ip(peer4, node4, 6, tcpSeg(80, 5000)), []Binding{tcp5000}},
	{"tcp6-to-5000", ip(peer6, node6, 6, tcpSeg(80, 5000)), []Binding{tcp5000}},
	{"udp4-fragment", mutate(ip(peer4, node4, 17, udpSeg(53, 5000, "a")), func(p []byte) []byte { p[6] = 0x20; return p }), nil},
	{"udp4-options-to-5000", withOption(ip(peer4, node4, 17, udpSeg(53, 5000, "a")), []byte{1, 1, 1, 0}), []Binding{udp5000}},
	{"echo4-reply-77", ip(peer4, node4, 1, icmpSeg(0, 77, 1)), []Binding{icmpID77}},
	{"echo6-reply-77", ip(peer6, node6, 1, icmpSeg(129, 77, 1)), []Binding{icmpID77}},
	{"echo4-reply-78", ip(peer4, node4, 1, icmpSeg(0, 78, 1)), nil},
	{"echo4-request-77", ip(peer4, node4, 1, icmpSeg(8, 77, 1)), nil},
	{"unreachable4-udp-from-5000", icmpError(peer4, node4, 3, ip(node4, peer4, 17, udpSeg(5000, 33434, "x"))), []Binding{udp5000}},
	{"unreachable6-udp-from-5000", icmpError(peer6, node6, 1, ip(node6, peer6, 17, udpSeg(5000, 33434, "x"))), []Binding{udp5000}},
	{"unreachable4-udp-from-5001", icmpError(peer4, node4, 3, ip(node4, peer4, 17, udpSeg(5001, 33434, "x"))), nil},
	{"exceeded4-tcp-from-5000", icmpError(peer4, node4, 11, ip(node4, peer4, 6, tcpSeg(5000, 80))), []Binding{tcp5000}},
	{"exceeded4-options-echo-77", icmpError(peer4, node4, 11, withOption(ip(node4, peer4, 1, icmpSeg(8, 77, 3)), []byte{1, 1, 1, 0})), []Binding{icmpID77}},
	{"exceeded4-echo-77", icmpError(peer4, node4, 11, ip(node4, peer4, 1, icmpSeg(8, 77, 3))), []Binding{icmpID77}},
	{"exceeded6-echo-77", icmpError(peer6, node6, 3, ip(node6, peer6, 1, icmpSeg(128, 77, 3))), []Binding{icmpID77}},
	{"exceeded4-echo-78", icmpError(peer4, node4, 11, ip(node4, peer4, 1, icmpSeg(8, 78, 3))), nil},
	{"redirect4-udp-from-5000", icmpError(peer4, node4, 5, ip(node4, peer4, 17, udpSeg(5000, 33434, "x"))), nil},
}

// TestFilter runs the capture's BPF program on received packets: it keeps
// exactly what Wants wants, and nothing from the host itself.
func TestFilter(t *testing.T) {
	for _, b := range []Binding{udp5000, tcp5000, icmpID77} {
		prog, err := Filter(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range receivedCases {
			want := false
			for _, w := range tc.want {
				want = want || w == b
			}
			if got := Wants(tc.pkt, b); got != want {
				t.Errorf("%s: Wants(%s) = %v, want %v", tc.name, b, got, want)
			}
			if got := runBPF(t, prog, tc.pkt, packetHost) != 0; got != want {
				t.Errorf("%s: filter for %s keeps it = %v, want %v", tc.name, b, got, want)
			}
			if runBPF(t, prog, tc.pkt, 4 /* PACKET_OUTGOING */) != 0 {
				t.Errorf("%s: filter for %s keeps an outgoing packet", tc.name, b)
			}
		}
	}
}

// FuzzFilter checks that the BPF filter never drops a packet Wants wants
// (it may keep more: the service checks again).
func FuzzFilter(f *testing.F) {
	for _, tc := range receivedCases {
		f.Add(tc.pkt, wire.ProtoUDP, uint16(5000))
		f.Add(tc.pkt, wire.ProtoICMP, uint16(77))
	}
	f.Fuzz(func(t *testing.T, pkt []byte, proto uint8, port uint16) {
		if proto != wire.ProtoTCP && proto != wire.ProtoUDP {
			proto = wire.ProtoICMP
		}
		b := Binding{Proto: proto, Port: port}
		prog, err := Filter(b)
		if err != nil {
			t.Fatal(err)
		}
		if Wants(pkt, b) && runBPF(t, prog, pkt, packetHost) == 0 {
			t.Fatalf("filter for %s drops a packet Wants wants: %x", b, pkt)
		}
	})
}

// TestSniffFilter runs a sniffer's BPF program and Sniffs: they keep the
// segments whose local side is the binding (the port on one of its
// addresses): received ones to it, sent ones from it, and both on
// loopback; never a flow whose remote side merely has the port number,
// nor one of another local address.
func TestSniffFilter(t *testing.T) {
	other4 := netip.MustParseAddr("192.0.2.7") // the node's, not the binding's
	local := []netip.Addr{node4, node6}
	type dirs struct{ in, out, loop bool } // what Sniffs keeps per direction
	for _, tc := range []struct {
		name string
		pkt  []byte
		want dirs
	}{
		{"udp4-to-5000", ip(peer4, node4, 17, udpSeg(53, 5000, "a")), dirs{true, false, true}},
		{"udp4-from-5000", ip(node4, peer4, 17, udpSeg(5000, 53, "a")), dirs{false, true, true}},
		{"udp6-from-5000", ip(node6, peer6, 17, udpSeg(5000, 53, "a")), dirs{false, true, true}},
		{"udp6-to-5000", ip(peer6, node6, 17, udpSeg(53, 5000, "a")), dirs{true, false, true}},
		{"udp4-remote-5000-in", ip(peer4, node4, 17, udpSeg(5000, 40000, "a")), dirs{}},
		{"udp4-remote-5000-out", ip(node4, peer4, 17, udpSeg(40000, 5000, "a")), dirs{}},
		{"udp4-other-address", ip(peer4, other4, 17, udpSeg(53, 5000, "a")), dirs{}},
		{"udp4-from-other-address", ip(other4, peer4, 17, udpSeg(5000, 53, "a")), dirs{}},
		{"udp4-5001", ip(peer4, node4, 17, udpSeg(53, 5001, "a")), dirs{}},
		{"tcp4-to-5000", ip(peer4, node4, 6, tcpSeg(80, 5000)), dirs{}},
		{"udp4-fragment", mutate(ip(peer4, node4, 17, udpSeg(53, 5000, "a")), func(p []byte) []byte { p[6] = 0x20; return p }), dirs{}},
		{"echo4", ip(peer4, node4, 1, icmpSeg(0, 5000, 1)), dirs{}},
	} {
		prog, err := SniffFilter(udp5000)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []struct {
			dir            direction
			want           bool
			pktType, hatyp uint32
		}{
			{received, tc.want.in, packetHost, 1},
			{sent, tc.want.out, packetOutgoing, 1},
			{looped, tc.want.loop, packetHost, arphrdLoopback},
		} {
			if got := Sniffs(tc.pkt, udp5000, local, d.dir); got != d.want {
				t.Errorf("%s: Sniffs (direction %d) = %v, want %v", tc.name, d.dir, got, d.want)
			}
			if d.want && runBPFOn(t, prog, tc.pkt, d.pktType, d.hatyp) == 0 {
				t.Errorf("%s: sniff filter (packet type %d) drops a packet Sniffs keeps", tc.name, d.pktType)
			}
		}
		if runBPF(t, prog, tc.pkt, 3 /* PACKET_OTHERHOST */) != 0 {
			t.Errorf("%s: sniff filter keeps another host's packet", tc.name)
		}
	}
	// The kernel's filter already leaves out a flow whose remote side
	// has the port: the service never even copies it.
	prog, _ := SniffFilter(udp5000)
	if runBPF(t, prog, ip(node4, peer4, 17, udpSeg(40000, 5000, "a")), packetOutgoing) != 0 ||
		runBPF(t, prog, ip(peer4, node4, 17, udpSeg(5000, 40000, "a")), packetHost) != 0 {
		t.Error("sniff filter keeps a flow whose remote port is the bound one")
	}
}
