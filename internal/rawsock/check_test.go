package rawsock

import (
	"net/netip"
	"strings"
	"testing"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

var (
	udp5000  = Binding{wire.ProtoUDP, 5000}
	tcp5000  = Binding{wire.ProtoTCP, 5000}
	icmpID77 = Binding{wire.ProtoICMP, 77}
)

// checkCases are the checker's verdicts: want "" accepts, otherwise the
// error must contain want. The seed corpus is made from them too.
var checkCases = []struct {
	name string
	b    Binding
	pkt  []byte
	want string
}{
	{"udp4", udp5000, ip(node4, peer4, 17, udpSeg(5000, 53, "hi")), ""},
	{"udp6", udp5000, ip(node6, peer6, 17, udpSeg(5000, 53, "hi")), ""},
	{"tcp4-syn", tcp5000, ip(node4, peer4, 6, tcpSeg(5000, 80)), ""},
	{"tcp6-syn", tcp5000, ip(node6, peer6, 6, tcpSeg(5000, 80)), ""},
	{"icmp4-echo", icmpID77, ip(node4, peer4, 1, icmpSeg(8, 77, 1)), ""},
	{"icmp6-echo", icmpID77, ip(node6, peer6, 1, icmpSeg(128, 77, 1)), ""},
	{"icmp4-port-unreachable", udp5000, icmpError(node4, peer4, 3, ip(peer4, node4, 17, udpSeg(40000, 5000, "x"))), ""},
	{"icmp6-port-unreachable", udp5000, icmpError(node6, peer6, 1, ip(peer6, node6, 17, udpSeg(40000, 5000, "x"))), ""},
	{"record-route-option", udp5000, withOption(ip(node4, peer4, 17, udpSeg(5000, 53, "")), []byte{7, 7, 4, 0, 0, 0, 0, 0}), ""},

	{"forged-source-address", udp5000, ip(peer4, node4, 17, udpSeg(5000, 53, "")), "source address 192.0.2.2"},
	{"forged-source-address6", udp5000, ip(peer6, node6, 17, udpSeg(5000, 53, "")), "source address"},
	{"forged-source-port", udp5000, ip(node4, peer4, 17, udpSeg(5001, 53, "")), "source port 5001"},
	{"forged-tcp-port", tcp5000, ip(node4, peer4, 6, tcpSeg(22, 80)), "source port 22"},
	{"wrong-protocol", udp5000, ip(node4, peer4, 6, tcpSeg(5000, 80)), "protocol 6"},
	{"unspecified-destination", udp5000, ip(node4, netip0, 17, udpSeg(5000, 53, "")), "unspecified"},
	{"ipv4-more-fragments", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[6] = 0x20; return p }), "fragments"},
	{"ipv4-fragment-offset", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[7] = 1; return p }), "fragments"},
	{"ipv4-ihl-too-small", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[0] = 0x44; return p }), "header length 16"},
	{"ipv4-ihl-beyond-packet", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[0] = 0x4f; return p }), "header length 60"},
	{"ipv4-total-length", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[3]++; return p }), "total length"},
	{"ipv4-trailing-bytes", udp5000, append(ip(node4, peer4, 17, udpSeg(5000, 53, "")), 0), "total length"},
	{"ipv4-short", udp5000, ip(node4, peer4, 17, udpSeg(5000, 53, ""))[:19], "shorter than its header"},
	{"ipv4-source-route", udp5000, withOption(ip(node4, peer4, 17, udpSeg(5000, 53, "")), []byte{0x83, 7, 4, 0, 0, 0, 0, 0}), "source-route"},
	{"ipv4-bad-option", udp5000, withOption(ip(node4, peer4, 17, udpSeg(5000, 53, "")), []byte{7, 9, 4, 0}), "malformed IPv4 option"},
	{"udp-length", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "ab")), func(p []byte) []byte { p[25]--; return p }), "UDP length"},
	{"empty", udp5000, nil, "empty packet"},
	{"tcp-data-offset", tcp5000, mutate(ip(node4, peer4, 6, tcpSeg(5000, 80)), func(p []byte) []byte { p[32] = 4 << 4; return p }), "data offset 16"},
	{"ipv6-payload-length", udp5000, mutate(ip(node6, peer6, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[5]++; return p }), "payload length"},
	{"ipv6-fragment-header", udp5000, withExt6(ip(node6, peer6, 17, udpSeg(5000, 53, "")), 44), "extension header 44"},
	{"ipv6-routing-header", udp5000, withExt6(ip(node6, peer6, 17, udpSeg(5000, 53, "")), 43), "extension header 43"},
	{"ipv6-dest-options", udp5000, withExt6(ip(node6, peer6, 17, udpSeg(5000, 53, "")), 60), ""},
	{"ip-version-5", udp5000, mutate(ip(node4, peer4, 17, udpSeg(5000, 53, "")), func(p []byte) []byte { p[0] = 0x55; return p }), "IP version 5"},
	{"icmp-wrong-id", icmpID77, ip(node4, peer4, 1, icmpSeg(8, 78, 1)), "identifier 78"},
	{"icmp-error-from-icmp-socket", icmpID77, ip(node4, peer4, 1, icmpSeg(11, 77, 1)), "not an echo-like"},
	{"icmp-redirect", udp5000, icmpError(node4, peer4, 5, ip(peer4, node4, 17, udpSeg(40000, 5000, "x"))), "type 5"},
	{"icmp-error-other-port", udp5000, icmpError(node4, peer4, 3, ip(peer4, node4, 17, udpSeg(40000, 5001, "x"))), "destination port 5001"},
	{"icmp-error-other-dst", udp5000, icmpError(node4, peer4, 3, ip(peer4, peer4, 17, udpSeg(40000, 5000, "x"))), "not to this node"},
	{"icmp-error-other-proto", udp5000, icmpError(node4, peer4, 3, ip(peer4, node4, 6, tcpSeg(40000, 5000))), "quotes protocol 6"},
	{"icmp-error-truncated", udp5000, icmpError(node4, peer4, 3, ip(peer4, node4, 17, udpSeg(40000, 5000, "x"))[:24]), "no well-formed"},
}

var netip0 = netip.IPv4Unspecified()

// withOption inserts IPv4 options (a multiple of 4 bytes) after the header.
func withOption(p, opt []byte) []byte {
	out := append(append(append([]byte(nil), p[:20]...), opt...), p[20:]...)
	out[0] = 0x40 | byte((20+len(opt))/4)
	out[2], out[3] = byte(len(out)>>8), byte(len(out))
	return out
}

// withExt6 inserts an 8-byte IPv6 extension header of type next.
func withExt6(p []byte, next uint8) []byte {
	ext := []byte{p[6], 0, 0, 0, 0, 0, 0, 0}
	out := append(append(append([]byte(nil), p[:40]...), ext...), p[40:]...)
	out[6] = next
	pl := len(out) - 40
	out[4], out[5] = byte(pl>>8), byte(pl)
	return out
}

func TestCheck(t *testing.T) {
	for _, tc := range checkCases {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(tc.pkt, tc.b, nodes)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Check refused a good packet: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("Check accepted a bad packet (want an error with %q)", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("Check error %q does not say %q", err, tc.want)
			}
		})
	}
}
