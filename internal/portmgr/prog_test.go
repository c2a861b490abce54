package portmgr

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/orbisproject/orbis/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestInstructionsGolden pins what the bind program asks of the kernel,
// as text, without root (the root tests load it for real): both variants, with and without
// the low-port bypass.
func TestInstructionsGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		noCap bool
	}{{"bind_nocap", true}, {"bind_plain", false}} {
		t.Run(tc.name, func(t *testing.T) {
			got := programText(t, instructions(tc.noCap))
			path := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("instructions changed; got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// programText is the program's listing and its little-endian bytecode, one
// instruction per line (the listing alone omits some immediates, such as
// the width of a byte swap).
func programText(t *testing.T, insns asm.Instructions) string {
	var b bytes.Buffer
	if err := insns.Marshal(&b, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	code := b.Bytes()
	var out strings.Builder
	fmt.Fprintf(&out, "%v\nbytecode:\n", insns)
	for i := 0; i < len(code); i += 8 {
		fmt.Fprintf(&out, "\t%2d: % x\n", i/8, code[i:i+8])
	}
	return out.String()
}

// TestInstructionsEncode checks the program assembles into bytecode and
// references the reservations map, and that the two variants differ only
// in the owner's return code.
func TestInstructionsEncode(t *testing.T) {
	var a, b bytes.Buffer
	if err := instructions(true).Marshal(&a, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if err := instructions(false).Marshal(&b, binary.LittleEndian); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if refs := instructions(true).ReferenceOffsets()[mapName]; len(refs) != 1 {
		t.Errorf("references to %s: %v, want one", mapName, refs)
	}
	diff := 0
	for i := range a.Bytes() {
		if a.Bytes()[i] != b.Bytes()[i] {
			diff++
		}
	}
	if a.Len() != b.Len() || diff != 1 {
		t.Errorf("variants differ in %d bytes (lengths %d, %d), want 1", diff, a.Len(), b.Len())
	}
}

func TestKeyAndValue(t *testing.T) {
	k, err := key(api.Port{Proto: "udp", Port: 700})
	if err != nil || k != 17<<16|700 || portOf(k) != (api.Port{Proto: "udp", Port: 700}) {
		t.Errorf("key(700/udp) = %#x, %v", k, err)
	}
	for _, bad := range []api.Port{{Proto: "sctp", Port: 80}, {Proto: "tcp", Port: 0}} {
		if _, err := key(bad); err == nil {
			t.Errorf("key(%v) succeeded", bad)
		}
	}
	v, err := newValue("princeton_codeen", 42, 3)
	if err != nil || v.owner() != "princeton_codeen" {
		t.Errorf("newValue: %v %q", err, v.owner())
	}
	if _, err := newValue(strings.Repeat("x", nameSize+1), 1, 1); err == nil {
		t.Error("an owner name too long for the map was accepted")
	}
}

const procNetSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:02BC 00000000:0000 0A 00000000:00000000 00:00000000 00000000 100000        0 2 1 0 100 0 0 10 0
   2: 0100007F:9C40 0100007F:02BC 01 00000000:00000000 00:00000000 00000000 100000        0 3 1 0 100 0 0 10 0
   3: 00000000:F230 00000000:0000 07 00000000:00000000 00:00000000 00000000 165536        0 4 1 0 100 0 0 10 0
`

func TestParseProcNet(t *testing.T) {
	socks, err := parseProcNet(strings.NewReader(procNetSample))
	if err != nil {
		t.Fatal(err)
	}
	any4, lo := netip.IPv4Unspecified(), netip.MustParseAddr("127.0.0.1")
	want := []procSock{{any4, 22, 0x0A, 0}, {lo, 700, 0x0A, 100000}, {lo, 40000, 0x01, 100000}, {any4, 62000, 0x07, 165536}}
	if fmt.Sprint(socks) != fmt.Sprint(want) {
		t.Errorf("parsed %v, want %v", socks, want)
	}
	if _, err := parseProcNet(strings.NewReader("header\n 0: zz:zz 0 0A a b c d\n")); err == nil {
		t.Error("a malformed line parsed")
	}
}

// TestBoundSockets reads a fake /proc: listening and bound sockets of
// resolved UIDs count, connections and host sockets do not.
func TestBoundSockets(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "net"), 0o755)
	os.WriteFile(filepath.Join(proc, "net", "tcp"), []byte(procNetSample), 0o644)
	os.WriteFile(filepath.Join(proc, "net", "udp6"), []byte(procNetSample), 0o644)
	resolve := func(uid uint32) (string, bool) {
		switch uid / 65536 {
		case 1:
			return "alice", true
		case 2:
			return "bob", true
		}
		return "", false
	}
	es, err := boundSockets(proc, resolve)
	if err != nil {
		t.Fatal(err)
	}
	sortEntries(es)
	var b strings.Builder
	WriteTable(&b, es)
	want := `PROTO  PORT  KIND      OWNER
tcp     700  bound     alice
tcp   62000  bound     bob
udp     700  bound     alice
udp   40000  bound     alice
udp   62000  bound     bob
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestHoldOf: a slice holds a port alone on the addresses of its bound
// sockets (every address for the wildcard or a reservation), and not at
// all when anyone else's socket uses it on any address, or it holds it
// only through a connection.
func TestHoldOf(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0101CA0A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65536 0 1
   1: 0100007F:2256 00000000:0000 0A 00000000:00000000 00:00000000 00000000 131072 0 2
   2: 0101CA0A:2256 0202CA0A:0050 01 00000000:00000000 00:00000000 00000000 131072 0 3
   3: 0101CA0A:2257 0202CA0A:0050 01 00000000:00000000 00:00000000 00000000 65536 0 4
   4: 0101CA0A:2258 0202CA0A:0050 01 00000000:00000000 00:00000000 00000000 0 0 5
   5: 00000000:2259 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65536 0 6
   6: 0101CA0A:2259 0202CA0A:0050 06 00000000:00000000 00:00000000 00000000 0 0 0
   7: 00000000000000000000000001000000:225A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65536 0 7
   8: 0000000000000000FFFF00000101CA0A:225B 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 65536 0 8
`
	socks, err := parseProcNet(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	resolve := func(uid uint32) (string, bool) {
		return map[uint32]string{65536: "victim", 131072: "attacker"}[uid], uid == 65536 || uid == 131072
	}
	node := netip.MustParseAddr("10.202.1.1")
	for _, c := range []struct {
		slice    string
		port     uint16
		reserved bool
		want     string // the hold, or the error
	}{
		{"victim", 8080, false, fmt.Sprint(Hold{Addrs: []netip.Addr{node}})},
		{"attacker", 8080, false, "tcp port 8080 is in use by another slice"},
		{"attacker", 8790, false, fmt.Sprint(Hold{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})},
		{"victim", 8790, false, "tcp port 8790 is in use by another slice"},
		{"victim", 8791, false, "slice victim does not own tcp port 8791"},
		{"victim", 8791, true, fmt.Sprint(Hold{All: true})},
		{"victim", 8792, true, "tcp port 8792 is in use by the node"},
		{"victim", 8793, false, fmt.Sprint(Hold{All: true})},
		{"victim", 8794, false, fmt.Sprint(Hold{Addrs: []netip.Addr{netip.IPv6Loopback()}})},
		{"victim", 8795, false, fmt.Sprint(Hold{Addrs: []netip.Addr{node}})},
		{"victim", 9000, true, fmt.Sprint(Hold{All: true})},
	} {
		h, err := holdOf(socks, resolve, c.reserved, c.slice, "tcp", c.port)
		got := fmt.Sprint(h)
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s holds tcp/%d (reserved %v): %s, want %s", c.slice, c.port, c.reserved, got, c.want)
		}
	}
}

func TestEphemeralRange(t *testing.T) {
	proc := t.TempDir()
	p := filepath.Join(proc, "sys/net/ipv4/ip_local_port_range")
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("32768\t60999\n"), 0o644)
	lo, hi, err := ephemeralRange(proc)
	if err != nil || lo != 32768 || hi != 60999 {
		t.Errorf("ephemeralRange = %d, %d, %v", lo, hi, err)
	}
}

func TestPortList(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"\n", ""},
		{"8080\n", "8080"},
		{"40000,40002-40005,40001\n", "40000-40005"},
		{"9,7,8,100", "7-9,100"},
	} {
		set, err := parsePortList(c.in)
		if err != nil || formatPortList(set) != c.out {
			t.Errorf("%q: %q, %v; want %q", c.in, formatPortList(set), err, c.out)
		}
	}
	for _, bad := range []string{"x", "5-3", "70000", "1,-2"} {
		if _, err := parsePortList(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
