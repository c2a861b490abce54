package netfilter

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

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
	nettest.Listen(t, p, 9003, true)
	send := func(uid uint32, count int) {
		t.Helper()
		s := nettest.Send{UID: uid, To: netip.AddrPortFrom(p.RecvIP, 9003), Count: count, Payload: 100, For: 10 * time.Second, Gap: time.Millisecond}
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
	time.Sleep(200 * time.Millisecond)
	c, err := tg2.Counters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range c {
		want := uint64(sends[name])
		if got.TxPackets != want || got.RxPackets != want || got.TxBytes != want*(100+8+20) {
			t.Errorf("%s: counters %+v, want %d packets each way", name, got, want)
		}
	}
	if _, ok := c["s01500"]; ok || len(c) != len(all) {
		t.Errorf("%d slivers counted (s01500 there: %v), want %d", len(c), ok, len(all))
	}
}
