package admin

import (
	"net/netip"
	"testing"

	"github.com/orbisproject/orbis/internal/sniff"
)

func TestFilter(t *testing.T) {
	syn := sniff.Packet{Slice: "pl_a", Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		Proto: 6, SrcPort: 40000, DstPort: 80, TCPFlags: sniff.TCPSyn}
	dns := sniff.Packet{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.9"), Proto: 17, SrcPort: 999, DstPort: 53}
	for _, c := range []struct {
		expr     string
		syn, dns bool
	}{
		{"", true, true},
		{"tcp", true, false},
		{"not tcp", false, true},
		{"udp or tcp", true, true},
		{"slice pl_a", true, false},
		{"node", false, true},
		{"port 53", false, true},
		{"dst port 80", true, false},
		{"src port 80", false, false},
		{"host 10.0.0.9", false, true},
		{"src 10.0.0.1 and dst host 10.0.0.2", true, false},
		{"tcp and port 80 or udp and port 53", true, true},
		{"tcp and not port 80 or slice pl_b", false, false},
		{"! node", true, false},
	} {
		f, err := parseFilter(c.expr)
		if err != nil {
			t.Errorf("%q: %v", c.expr, err)
			continue
		}
		if f.match(&syn) != c.syn || f.match(&dns) != c.dns {
			t.Errorf("%q: syn %v dns %v, want %v %v", c.expr, f.match(&syn), f.match(&dns), c.syn, c.dns)
		}
	}
	for _, bad := range []string{"and tcp", "tcp and", "tcp udp", "port http", "host nowhere", "slice", "not", "frobnicate"} {
		if _, err := parseFilter(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseStat(t *testing.T) {
	line := "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 1 0 123456 10000000 300 18446744073709551615"
	p, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != 4242 || p.PPID != 1 || p.State != "S" || p.CPU.Seconds() != 4 || p.StartTicks != 123456 || p.Command != "[a) (b c]" || p.kthread {
		t.Errorf("%+v", p)
	}
	if _, err := parseStat([]byte("12 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
}

// TestPrintable: a process cannot forge lines or escapes in a listing.
func TestPrintable(t *testing.T) {
	if got := printable("evil\n1 0 0 - S\x1b[2J\xff ok", 200); got != "evil?1 0 0 - S?[2J? ok" {
		t.Errorf("printable: %q", got)
	}
	if got := printable("abcdef", 3); got != "abc" {
		t.Errorf("printable cut: %q", got)
	}
}
