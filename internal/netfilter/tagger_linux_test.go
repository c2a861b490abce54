package netfilter

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// newTagger makes a tagger with a unique table in a fresh namespace pair.
func newTagger(t *testing.T) (*Tagger, *nettest.Pair, string) {
	testutil.RequireRoot(t)
	p := nettest.NewPair(t)
	table := fmt.Sprintf("orbistest_%d", os.Getpid())
	tg, err := New(Config{Table: table, NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tg.Close(); err != nil {
			t.Error(err)
		}
	})
	return tg, p, table
}

// TestKernelRuleset checks that the kernel holds exactly the planned rules
// (TestPlanGolden pins them without root), and that Set is idempotent.
func TestKernelRuleset(t *testing.T) {
	tg, p, table := newTagger(t)
	ctx := testutil.Context(t)
	for _, s := range append(testSlivers(), testSlivers()[0]) {
		if err := tg.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tg.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := ruleBlocks(got), ruleBlocks(Plan(table, testSlivers())); g != w {
		t.Errorf("kernel ruleset:\n%s\nwant:\n%s", g, w)
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Log("no nft command: its view of the table not checked")
		return
	}
	out, err := exec.Command("ip", "netns", "exec", strings.TrimPrefix(p.SendNS, "/run/netns/"), "nft", "list", "table", "inet", table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v: %s", err, out)
	}
	t.Logf("nft list table:\n%s", out)
	// nft shows the data of the maps byte-swapped (it takes them for
	// big-endian), so only the keys are checked here; Dump checks all.
	for _, frag := range []string{"meta skuid map @uid_000", "meta skuid map @uid_001", "100000-165535 : ", "165536-231071 : ",
		"meta mark @marks ct mark set meta mark jump tag", "ct mark @marks meta mark set ct mark jump tag",
		"meta mark @tx", `0x4f520001 counter packets 0 bytes 0 comment "alice"`, "ct mark @rx",
		"icmp type echo-request meta priority set meta mark map @lowprio accept", "meta priority set meta mark map @prio accept"} {
		if !strings.Contains(string(out), frag) {
			t.Errorf("nft list table lacks %q", frag)
		}
	}
}

// TestCountsBySliverUID sends UDP from a sliver's UID and from another UID
// to an echoing peer: only the sliver's packets are counted as its tx, and
// the echoes as its rx, over IPv4 and IPv6; counters survive a new Set and
// go with Remove.
func TestCountsBySliverUID(t *testing.T) {
	tg, p, _ := newTagger(t)
	ctx := testutil.Context(t)
	slivers := testSlivers()
	for _, s := range slivers {
		if err := tg.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	nettest.Listen(t, p, 9001, true)
	sends := []nettest.Send{
		{UID: 100005, To: netip.AddrPortFrom(p.RecvIP, 9001), Count: 40, Payload: 100, Echoes: true},
		{UID: 100000, To: netip.AddrPortFrom(p.RecvIP6, 9001), Count: 20, Payload: 100, Echoes: true},
		{UID: 70000, To: netip.AddrPortFrom(p.RecvIP, 9001), Count: 30, Payload: 100}, // no sliver's
	}
	for _, s := range sends {
		s.For, s.Gap = 10*time.Second, time.Millisecond
		if err := nettest.Start(t, p, s).Wait(); err != nil {
			t.Fatalf("sender %d: %v", s.UID, err)
		}
	}
	c := waitCounters(t, tg, func(c map[string]Counters) bool { return c["alice"].RxPackets >= 60 })
	const wireLen = 100 + 8 + 20 // IPv4 datagram length at the output hook
	if a := c["alice"]; a.TxPackets != 60 || a.TxBytes != 40*wireLen+20*(wireLen+20) || a.RxPackets != 60 {
		t.Errorf("alice's counters = %+v, want 60 packets each way, %d bytes out", a, 40*wireLen+20*(wireLen+20))
	}
	if b, ok := c["bob"]; !ok || b != (Counters{}) {
		t.Errorf("bob's counters = %+v (present %v), want zero", b, ok)
	}
	if err := tg.Set(ctx, slivers[0]); err != nil {
		t.Fatal(err)
	}
	if err := tg.Remove(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	after, err := tg.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after["alice"] != c["alice"] {
		t.Errorf("Set reset alice's counters: %+v, was %+v", after["alice"], c["alice"])
	}
	if _, ok := after["bob"]; ok {
		t.Error("bob's counters outlived Remove")
	}
}

// ruleBlocks puts a debug listing in a form where the kernel's and the
// plan's compare: rules sorted (a re-Set moves a sliver's dispatch rules to
// the end of their chains; the golden plan checks the order), without what
// the netlink library cannot decode (byteorder expressions, and the source
// register of "ct set", which it reads back as a load into register 0).
func ruleBlocks(listing string) string {
	listing = strings.ReplaceAll(listing, "[ ct load mark => reg 0 ]", "[ ct set mark with reg 1 ]")
	var kept []string
	for _, l := range strings.SplitAfter(listing, "\n") {
		if !strings.Contains(l, "byteorder") {
			kept = append(kept, l)
		}
	}
	blocks := strings.Split(strings.Join(kept, ""), "\n\n")
	sort.Strings(blocks)
	return strings.Join(blocks, "\n\n")
}

// TestCountsBySocketMark sends UDP from a root socket marked with alice's
// SocketMark (as the SSH gateway marks a slice's connection) and from one
// with a mark no sliver has: only the first is alice's, tx and its echoes
// rx; the other is nobody's.
func TestCountsBySocketMark(t *testing.T) {
	tg, p, _ := newTagger(t)
	ctx := testutil.Context(t)
	for _, s := range testSlivers() {
		if err := tg.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	mark, ok := tg.SocketMark("alice")
	if !ok || mark != SocketMark(1) {
		t.Fatalf("SocketMark(alice) = %#x, %v; want %#x", mark, ok, SocketMark(1))
	}
	if _, ok := tg.SocketMark("dave"); ok {
		t.Error("a mark for a sliver never set")
	}
	nettest.Listen(t, p, 9002, true)
	sendMarked(t, p, mark, 25)
	sendMarked(t, p, SocketMark(3), 15) // no sliver has index 3
	c := waitCounters(t, tg, func(c map[string]Counters) bool { return c["alice"].RxPackets >= 25 })
	if a := c["alice"]; a.TxPackets != 25 || a.RxPackets != 25 || a.TxBytes != 25*(100+8+20) {
		t.Errorf("alice's counters = %+v, want 25 packets each way, %d bytes out", a, 25*(100+8+20))
	}
	if b := c["bob"]; b != (Counters{}) {
		t.Errorf("bob's counters = %+v, want zero", b)
	}
	if err := tg.Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := tg.SocketMark("alice"); ok {
		t.Error("alice's mark outlived Remove")
	}
}

// sendMarked sends count datagrams of 100 bytes from a socket with mark
// in p's sending namespace to port 9002, one every millisecond.
func sendMarked(t *testing.T, p *nettest.Pair, mark uint32, count int) {
	t.Helper()
	err := nettest.InNS(p.SendNS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark)); err != nil {
			return fmt.Errorf("SO_MARK: %w", err)
		}
		to := &unix.SockaddrInet4{Port: 9002, Addr: p.RecvIP.As4()}
		for range count {
			if err := unix.Sendto(fd, make([]byte, 100), 0, to); err != nil {
				return err
			}
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond) // the echoes reach the socket
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
