package netfilter

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// restore creates the table, sets and chains, and reads back, once, the
// slivers a previous Tagger left.
func (t *Tagger) restore() error {
	old, err := t.olderLayout()
	if err != nil {
		return err
	}
	if old {
		t.log.Info("deleting the table's older layout (a rule per sliver); slivers are tagged again when next set")
		t.conn.DelTable(t.table)
	}
	if err := addBase(t.conn, t.table, t.group); err != nil {
		return err
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("create: %w", err)
	}
	return t.readElements()
}

// olderLayout reports whether the table has a chain of the older layout,
// which had a chain per sliver, sl_<name>.
func (t *Tagger) olderLayout() (bool, error) {
	chains, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name == t.table.Name && strings.HasPrefix(c.Name, "sl_") {
			return true, nil
		}
	}
	return false, nil
}

// readElements fills t.slivers from the tx set (each element's comment is
// its sliver's name) and the UID parts' maps (each interval's start holds
// the sliver's mark; a range is from its first piece's start to its last
// piece's end).
func (t *Tagger) readElements() error {
	tx, err := t.conn.GetSetElements(setNamed(t.table, setTx))
	if err != nil {
		return fmt.Errorf("read set %s: %w", setTx, err)
	}
	for _, e := range tx {
		if i := elementIndex(e.Key); i != 0 && e.Comment != "" {
			t.slivers[e.Comment], t.byIndex[i] = Sliver{Name: e.Comment, Index: i}, e.Comment
		}
	}
	all, err := t.conn.GetSets(t.table)
	if err != nil {
		return fmt.Errorf("list sets: %w", err)
	}
	ranges := map[string][2]uint64{} // by sliver: first UID, one past the last
	for _, set := range all {
		if _, ok := uidPartStart(set.Name); !ok {
			continue
		}
		t.parts[set.Name] = true
		els, err := t.conn.GetSetElements(uidPartSet(t.table, set.Name))
		if err != nil {
			return fmt.Errorf("read map %s: %w", set.Name, err)
		}
		for name, r := range intervals(els, t.byIndex) {
			if o, ok := ranges[name]; ok {
				r = [2]uint64{min(o[0], r[0]), max(o[1], r[1])}
			}
			ranges[name] = r
		}
	}
	for name, r := range ranges {
		if s, ok := t.slivers[name]; ok {
			s.UIDBase, s.UIDCount = uint32(r[0]), uint32(r[1]-r[0])
			t.slivers[name] = s
		}
	}
	return nil
}

// intervals pairs a UID map's elements into intervals, by the name of the
// sliver whose mark their start holds: an interval is a start element and
// the end element of next higher key.
func intervals(els []nftables.SetElement, byIndex map[uint32]string) map[string][2]uint64 {
	slices.SortFunc(els, elementOrder)
	out := map[string][2]uint64{}
	for i, e := range els {
		name, ok := byIndex[elementIndex(e.Val)]
		if e.IntervalEnd || !ok || len(e.Key) != 4 {
			continue
		}
		for _, end := range els[i+1:] {
			if end.IntervalEnd && len(end.Key) == 4 {
				out[name] = [2]uint64{uint64(binary.BigEndian.Uint32(e.Key)), uint64(binary.BigEndian.Uint32(end.Key))}
				break
			}
		}
	}
	return out
}

// Dump returns the table's rules and sets' elements as the kernel holds
// them, in the form of Plan (expressions the netlink library cannot
// decode, such as byteorder, are missing).
func (t *Tagger) Dump(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	parts := slices.Sorted(maps.Keys(t.parts))
	for _, chain := range append([]string{chainOutput, chainTag, chainInput}, parts...) {
		rules, err := t.conn.GetRules(t.table, &nftables.Chain{Name: chain, Table: t.table})
		if err != nil {
			return "", fmt.Errorf("list rules of %s: %w", chain, err)
		}
		writeRules(&b, t.table.Name, chain, rules)
	}
	for _, s := range append(sets(t.table), partSets(t.table, parts)...) {
		els, err := t.conn.GetSetElements(s)
		if err != nil {
			return "", fmt.Errorf("read set %s: %w", s.Name, err)
		}
		if s.Name == setUIDParts {
			for i := range els {
				els[i].VerdictData = decodeVerdict(els[i].Val)
			}
		}
		writeElements(&b, t.table.Name, s.Name, els)
	}
	return b.String(), nil
}

// decodeVerdict reads the data of a verdict map's element as the kernel
// gives it (NFTA_VERDICT_CODE, NFTA_VERDICT_CHAIN), or returns nil.
func decodeVerdict(val []byte) *expr.Verdict {
	ad, err := netlink.NewAttributeDecoder(val)
	if err != nil {
		return nil
	}
	ad.ByteOrder = binary.BigEndian
	v := &expr.Verdict{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			v.Kind = expr.VerdictKind(int32(ad.Uint32()))
		case unix.NFTA_VERDICT_CHAIN:
			v.Chain = ad.String()
		}
	}
	if ad.Err() != nil {
		return nil
	}
	return v
}
