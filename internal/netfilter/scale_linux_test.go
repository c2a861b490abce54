package netfilter

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// scaleSlivers are n slivers with adjacent UID ranges of 1000 UIDs from
// 1,000,000 and indices 1..n.
func scaleSlivers(n int) []Sliver {
	out := make([]Sliver, n)
	for i := range out {
		out[i] = Sliver{Name: fmt.Sprintf("s%05d", i+1), UIDBase: 1_000_000 + uint32(i)*1000, UIDCount: 1000, Index: uint32(i + 1)}
	}
	return out
}

// TestManySlivers loads 2,000 slivers, then checks on a real kernel that a
// few chosen ones (the first, one in the middle, the last, and the
// neighbours of a removed one) are classified and counted as theirs, tx
// and rx, and nobody else's; a tagger made again on the table (an agent
// restart) reads the slivers back and can remove one and set one.
func TestManySlivers(t *testing.T) {
	tg, p, table := newTagger(t)
	ctx := testutil.Context(t)
	all := scaleSlivers(2000)
	start := time.Now()
	for _, s := range all {
		if err := tg.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("2000 slivers set in %v", time.Since(start))
	// What a packet walks does not grow with the slivers: the fixed rules,
	// and one rule in each part (here 3 of 2^20 UIDs) of the UID space.
	dump, err := tg.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rules := 0
	for _, l := range strings.Split(dump, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "inet" { // "inet TABLE CHAIN" heads a rule
			rules++
		}
	}
	if want := len(tableRules(tg.table, 0)) + 3; rules != want {
		t.Errorf("%d rules for 2000 slivers, want %d", rules, want)
	}
	nettest.Listen(t, p, 9003, true)
	send := func(uid uint32, count int) {
		t.Helper()
		s := nettest.Send{UID: uid, To: netip.AddrPortFrom(p.RecvIP, 9003), Count: count, Payload: 100, Echoes: true, For: 10 * time.Second, Gap: time.Millisecond}
		if err := nettest.Start(t, p, s).Wait(); err != nil {
			t.Fatalf("sender %d: %v", uid, err)
		}
	}
	// Restart: a new tagger reads the table back.
	tg2, err := New(Config{Table: table, NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg2.conn.CloseLasting(); tg2.nsfd.Close() })
	if got, want := tg2.slivers["s01000"], all[999]; len(tg2.slivers) != len(all) ||
		got.UIDBase != want.UIDBase || got.UIDCount != want.UIDCount || got.Index != want.Index {
		t.Fatalf("restart read %d slivers, s01000 = %+v; want %d, %+v", len(tg2.slivers), got, len(all), want)
	}
	if err := tg2.Remove(ctx, "s01500"); err != nil {
		t.Fatal(err)
	}
	extra := Sliver{Name: "late", UIDBase: 5_000_000, UIDCount: 1000, Index: 2001}
	if err := tg2.Set(ctx, extra); err != nil {
		t.Fatal(err)
	}
	classes := watchClasses(t, p.SendNS, []Sliver{all[0], all[999], all[1999], all[1498], all[1499], all[1500], extra})
	sends := map[string]int{"s00001": 11, "s01000": 12, "s02000": 13, "s01499": 14, "s01501": 15, "late": 16}
	uids := map[string]uint32{"late": extra.UIDBase + 999}
	for _, i := range []int{0, 999, 1999, 1498, 1500} {
		uids[all[i].Name] = all[i].UIDBase + uint32(i%1000)
	}
	for name, n := range sends {
		send(uids[name], n)
	}
	send(all[1499].UIDBase+7, 17) // the removed sliver's: nobody's now
	send(999_999, 18)             // just below the first range
	c := waitCounters(t, tg2, func(c map[string]Counters) bool {
		for name, n := range sends {
			if c[name].RxPackets < uint64(n) {
				return false
			}
		}
		return true
	})
	for name, got := range c {
		want := uint64(sends[name])
		if got.TxPackets != want || got.RxPackets != want || got.TxBytes != want*(100+8+20) {
			t.Errorf("%s: counters %+v, want %d packets each way", name, got, want)
		}
	}
	if _, ok := c["s01500"]; ok || len(c) != len(all) {
		t.Errorf("%d slivers counted (s01500 there: %v), want %d", len(c), ok, len(all))
	}
	got := classes()
	for _, name := range []string{"s00001", "s01000", "s02000", "s01499", "s01500", "s01501", "late"} {
		if want := uint64(sends[name]); got[name] != want {
			t.Errorf("%s: %d packets left with its mark and HTB class, want %d", name, got[name], want)
		}
	}
}

// watchClasses counts, in a table of its own after the tagger's (at the
// postrouting hook of namespace ns), the packets that leave with each
// sliver's mark and the priority of its HTB class, and returns what reads
// the counts by slice name.
func watchClasses(t *testing.T, ns string, slivers []Sliver) func() map[string]uint64 {
	t.Helper()
	f, err := os.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // after the table's deletion, which needs it
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	table := c.AddTable(&nftables.Table{Name: fmt.Sprintf("orbistest_classes_%d", os.Getpid()), Family: nftables.TableFamilyINet})
	accept := nftables.ChainPolicyAccept
	chain := c.AddChain(&nftables.Chain{Name: "post", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityFilter, Policy: &accept})
	for _, s := range slivers {
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, UserData: []byte(s.Name), Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native32(Priority(s.Index))},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native32(SocketMark(s.Index))},
			&expr.Counter{},
		}})
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.DelTable(table)
		if err := c.Flush(); err != nil {
			t.Error(err)
		}
	})
	return func() map[string]uint64 {
		rules, err := c.GetRules(table, chain)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if n, ok := e.(*expr.Counter); ok && n.Packets > 0 {
					out[string(r.UserData)] = n.Packets
				}
			}
		}
		return out
	}
}

// TestConflictsRefused: a sliver whose UIDs overlap another's (in part,
// around it, inside it, across UID parts) or whose Index is another's is
// refused with an error naming the other, and changes nothing: the
// other's packets are still counted as its own, nobody's are the
// refused one's, and a later sliver in the UID part a refused Set would
// have made is tagged. A sliver's own range can shrink and grow back.
func TestConflictsRefused(t *testing.T) {
	tg, p, _ := newTagger(t)
	ctx := testutil.Context(t)
	alice, bob := testSlivers()[0], testSlivers()[1]
	for _, s := range []Sliver{alice, bob} {
		if err := tg.Set(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		s      Sliver
		victim string // or, with a comma, any of these
	}{
		{"partial overlap", Sliver{UIDBase: alice.UIDBase - 1000, UIDCount: 2000, Index: 9}, "alice"},
		{"around", Sliver{UIDBase: alice.UIDBase - 10, UIDCount: 200000, Index: 9}, "alice,bob"},
		{"inside", Sliver{UIDBase: bob.UIDBase + 10, UIDCount: 10, Index: 9}, "bob"},
		{"across parts", Sliver{UIDBase: bob.UIDBase + 10, UIDCount: 2_000_000, Index: 9}, "bob"},
		{"same index", Sliver{UIDBase: 5_000_000, UIDCount: 10, Index: bob.Index}, "bob"},
	} {
		tc.s.Name = "mallory"
		err := tg.Set(ctx, tc.s)
		if err == nil || !slices.ContainsFunc(strings.Split(tc.victim, ","), func(v string) bool {
			return strings.Contains(err.Error(), "sliver "+v+"'s")
		}) {
			t.Errorf("%s: Set = %v, want an error naming %s", tc.name, err, tc.victim)
		}
	}
	if _, ok := tg.SocketMark("mallory"); ok {
		t.Error("a refused sliver has a mark")
	}
	narrow := alice
	narrow.UIDCount = 1000
	for _, s := range []Sliver{narrow, alice} { // a range changed in place
		if err := tg.Set(ctx, s); err != nil {
			t.Fatalf("alice's range to %d+%d: %v", s.UIDBase, s.UIDCount, err)
		}
	}
	late := Sliver{Name: "late", UIDBase: 1_200_000, UIDCount: 10, Index: 9}
	if err := tg.Set(ctx, late); err != nil {
		t.Fatalf("a sliver in a UID part a refused Set would have made: %v", err)
	}
	nettest.Listen(t, p, 9004, false)
	for _, uid := range []uint32{alice.UIDBase + 100, bob.UIDBase + 10, late.UIDBase + 9} {
		s := nettest.Send{UID: uid, To: netip.AddrPortFrom(p.RecvIP, 9004), Count: 5, Payload: 100, For: 10 * time.Second}
		if err := nettest.Start(t, p, s).Wait(); err != nil {
			t.Fatalf("sender %d: %v", uid, err)
		}
	}
	c, err := tg.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"alice", "bob", "late"} {
		if c[name].TxPackets != 5 {
			t.Errorf("%s: %d packets counted, want 5", name, c[name].TxPackets)
		}
	}
	if _, ok := c["mallory"]; ok || len(c) != 3 {
		t.Errorf("counters %v, want alice, bob and late only", c)
	}
}

// TestOlderLayoutReplaced: a table left by an agent of the older layout
// (a chain and named counters per sliver) is replaced by the new one, so
// no packet walks the old per-sliver rules.
func TestOlderLayoutReplaced(t *testing.T) {
	tg, p, table := newTagger(t)
	if err := tg.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p.SendNS)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	old := c.AddTable(&nftables.Table{Name: table, Family: nftables.TableFamilyINet})
	c.AddChain(&nftables.Chain{Name: "byuid", Table: old})
	c.AddChain(&nftables.Chain{Name: "sl_old", Table: old})
	c.AddObj(&nftables.CounterObj{Table: old, Name: "tx_old"})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	tg2, err := New(Config{Table: table, NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer tg2.Close()
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range chains {
		if ch.Table.Name == table && (ch.Name == "sl_old" || ch.Name == "byuid") {
			t.Errorf("chain %s of the older layout kept", ch.Name)
		}
	}
	if err := tg2.Set(testutil.Context(t), testSlivers()[0]); err != nil {
		t.Fatal(err)
	}
}

// waitCounters reads tg's counters until done says they are complete (the
// last echoes arrived), for at most 5 s, and returns the last read.
func waitCounters(t *testing.T, tg *Tagger, done func(map[string]Counters) bool) map[string]Counters {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := tg.Counters(testutil.Context(t))
		if err != nil {
			t.Fatal(err)
		}
		if done(c) || time.Now().After(deadline) {
			return c
		}
	}
}
