package rawsock

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

// FuzzCheck checks the checker's promise: whatever Check accepts really is
// an unfragmented packet from one of the node's addresses, of the bound
// protocol, from the bound port or with the bound identifier (or an ICMP
// error about a packet to the bound port). Its seeds are in
// testdata/fuzz/FuzzCheck (regenerate with ORBIS_WRITE_SEEDS=1 go test
// -run TestSeeds); plain `go test` runs only them.
func FuzzCheck(f *testing.F) {
	f.Fuzz(func(t *testing.T, pkt []byte, proto uint8, port uint16) {
		b := Binding{Proto: proto, Port: port}
		if err := Check(pkt, b, nodes); err != nil {
			return
		}
		if why := violation(pkt, b); why != "" {
			t.Fatalf("Check accepted a packet that %s: %x", why, pkt)
		}
	})
}

// violation re-reads an accepted packet on its own (not with the
// checker's parser) and says what is wrong with it, or "".
func violation(pkt []byte, b Binding) string {
	var src netip.Addr
	var proto uint8
	var l4 []byte
	switch pkt[0] >> 4 {
	case 4:
		ihl := int(pkt[0]&0xf) * 4
		if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 {
			return "is a fragment"
		}
		src, proto, l4 = netip.AddrFrom4([4]byte(pkt[12:16])), pkt[9], pkt[ihl:]
	case 6:
		src, proto, l4 = netip.AddrFrom16([16]byte(pkt[8:24])), pkt[6], pkt[40:]
		for proto == 0 || proto == 60 {
			proto, l4 = l4[0], l4[(int(l4[1])+1)*8:]
		}
		if proto == 44 {
			return "is a fragment"
		}
	default:
		return "is not IPv4 or IPv6"
	}
	if !slices.Contains(nodes, src) {
		return "comes from " + src.String()
	}
	icmp := proto == wire.ProtoICMP || proto == 58
	switch {
	case b.Proto == wire.ProtoICMP && icmp:
		if binary.BigEndian.Uint16(l4[4:]) != b.Port {
			return "has another ICMP identifier"
		}
	case (b.Proto == wire.ProtoTCP || b.Proto == wire.ProtoUDP) && proto == b.Proto:
		if binary.BigEndian.Uint16(l4) != b.Port {
			return "has another source port"
		}
	case (b.Proto == wire.ProtoTCP || b.Proto == wire.ProtoUDP) && icmp:
		return quotedViolation(l4[8:], b)
	default:
		return fmt.Sprintf("has protocol %d for binding %s", proto, b)
	}
	return ""
}

// quotedViolation checks the packet an accepted ICMP error quotes.
func quotedViolation(q []byte, b Binding) string {
	var dst netip.Addr
	var proto uint8
	var l4 []byte
	if q[0]>>4 == 4 {
		dst, proto, l4 = netip.AddrFrom4([4]byte(q[16:20])), q[9], q[int(q[0]&0xf)*4:]
	} else {
		dst, proto, l4 = netip.AddrFrom16([16]byte(q[24:40])), q[6], q[40:]
	}
	switch {
	case !slices.Contains(nodes, dst):
		return "is an ICMP error about a packet to " + dst.String()
	case proto != b.Proto || binary.BigEndian.Uint16(l4[2:]) != b.Port:
		return "is an ICMP error about another port or protocol"
	}
	return ""
}

const seedDir = "testdata/fuzz/FuzzCheck"

// TestSeeds checks the committed seed corpus: every checker case is in
// it, and each seed named accept-* is accepted and refuse-* refused.
func TestSeeds(t *testing.T) {
	if os.Getenv("ORBIS_WRITE_SEEDS") != "" {
		writeSeeds(t)
	}
	for _, tc := range checkCases {
		name := seedName(tc.name, tc.want == "")
		pkt, b, err := readSeed(filepath.Join(seedDir, name))
		if err != nil {
			t.Errorf("seed %s: %v (regenerate with ORBIS_WRITE_SEEDS=1)", name, err)
			continue
		}
		if err := Check(pkt, b, nodes); (err == nil) != (tc.want == "") {
			t.Errorf("seed %s: Check says %v", name, err)
		}
	}
}

func seedName(name string, accept bool) string {
	if accept {
		return "accept-" + name
	}
	return "refuse-" + name
}

func writeSeeds(t *testing.T) {
	if err := os.MkdirAll(seedDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range checkCases {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nbyte(%q)\nuint16(%d)\n", tc.pkt, tc.b.Proto, tc.b.Port)
		if err := os.WriteFile(filepath.Join(seedDir, seedName(tc.name, tc.want == "")), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// readSeed parses a seed file of the form writeSeeds writes.
func readSeed(path string) ([]byte, Binding, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Binding{}, err
	}
	defer f.Close()
	var lines []string
	for sc := bufio.NewScanner(f); sc.Scan(); {
		lines = append(lines, sc.Text())
	}
	if len(lines) != 4 || lines[0] != "go test fuzz v1" {
		return nil, Binding{}, fmt.Errorf("not a FuzzCheck seed")
	}
	pkt, err1 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	proto, err2 := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "byte("), ")"))
	port, err3 := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(lines[3], "uint16("), ")"))
	if err1 != nil || err2 != nil || err3 != nil || len(proto) != 1 {
		return nil, Binding{}, fmt.Errorf("malformed seed")
	}
	return []byte(pkt), Binding{Proto: proto[0], Port: uint16(port)}, nil
}
