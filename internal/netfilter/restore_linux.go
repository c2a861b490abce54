package netfilter

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// restore creates the table, maps and base chains, and reads back, once,
// the slivers a previous Tagger left: their chains and map elements. The
// dispatch chains of the older layout (one rule per sliver, walked by
// every packet) are deleted; their slivers keep chains and counters, and
// get elements when next Set.
func (t *Tagger) restore() error {
	names, old, err := t.sliverChains()
	if err != nil {
		return err
	}
	for _, c := range old {
		t.conn.FlushChain(c)
		t.conn.DelChain(c)
	}
	if err := addBase(t.conn, t.table, t.group); err != nil {
		return err
	}
	for _, n := range names {
		// Slivers of the older layout lack an input chain.
		t.conn.AddObj(&nftables.CounterObj{Table: t.table, Name: rxCounter(n)})
		t.conn.FlushChain(t.conn.AddChain(&nftables.Chain{Name: inChain(n), Table: t.table}))
		t.conn.AddRule(inRule(t.table, n))
		t.slivers[n] = Sliver{Name: n}
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	return t.readElements()
}

// sliverChains lists the names of the slivers that have a chain in the
// table, and the older layout's dispatch chains if there are any.
func (t *Tagger) sliverChains() (names []string, old []*nftables.Chain, err error) {
	chains, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, nil, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name != t.table.Name {
			continue
		}
		if n, ok := strings.CutPrefix(c.Name, "sl_"); ok {
			names = append(names, n)
		} else if c.Name == "byuid" || c.Name == "bymark" {
			old = append(old, &nftables.Chain{Name: c.Name, Table: t.table})
		}
	}
	return names, old, nil
}

// readElements fills t.slivers from the byuid and bymark maps.
func (t *Tagger) readElements() error {
	uids, err := t.conn.GetSetElements(t.set(mapByUID))
	if err != nil {
		return fmt.Errorf("read map %s: %w", mapByUID, err)
	}
	// An interval is a start element (with the verdict) and the end
	// element of next higher key.
	slices.SortFunc(uids, func(a, b nftables.SetElement) int { return slices.Compare(a.Key, b.Key) })
	for i, e := range uids {
		s, ok := t.slivers[elementSliver(e.Val)]
		if e.IntervalEnd || !ok || len(e.Key) != 4 {
			continue
		}
		for _, end := range uids[i+1:] {
			if end.IntervalEnd && len(end.Key) == 4 {
				s.UIDBase = binary.BigEndian.Uint32(e.Key)
				s.UIDCount = binary.BigEndian.Uint32(end.Key) - s.UIDBase
				t.slivers[s.Name] = s
				break
			}
		}
	}
	marks, err := t.conn.GetSetElements(t.set(mapByMark))
	if err != nil {
		return fmt.Errorf("read map %s: %w", mapByMark, err)
	}
	for _, e := range marks {
		if s, ok := t.slivers[elementSliver(e.Val)]; ok && len(e.Key) == 4 {
			s.Index = binary.NativeEndian.Uint32(e.Key)
			t.slivers[s.Name], t.byIndex[s.Index] = s, s.Name
		}
	}
	return nil
}

// elementSliver is the sliver whose output chain a verdict map element's
// data jumps to, or "".
func elementSliver(val []byte) string {
	n, ok := strings.CutPrefix(elementChain(val), "sl_")
	if !ok {
		return ""
	}
	return n
}

// elementChain is the chain a verdict map element's data (the kernel's
// NFTA_VERDICT_CODE and NFTA_VERDICT_CHAIN) jumps to, or "".
func elementChain(val []byte) string {
	ad, err := netlink.NewAttributeDecoder(val)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == unix.NFTA_VERDICT_CHAIN {
			return ad.String()
		}
	}
	return ""
}

// Dump returns the table's rules and map elements as the kernel holds
// them, in the form of Plan (expressions the netlink library cannot
// decode, such as byteorder, are missing).
func (t *Tagger) Dump(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, chain := range chainOrder(slices.Collect(maps.Keys(t.slivers))) {
		rules, err := t.conn.GetRules(t.table, &nftables.Chain{Name: chain, Table: t.table})
		if err != nil {
			return "", fmt.Errorf("list rules of %s: %w", chain, err)
		}
		writeRules(&b, t.table.Name, chain, rules)
	}
	for _, m := range vmaps(t.table) {
		els, err := t.conn.GetSetElements(m)
		if err != nil {
			return "", fmt.Errorf("read map %s: %w", m.Name, err)
		}
		writeElements(&b, t.table.Name, m.Name, els)
	}
	return b.String(), nil
}
