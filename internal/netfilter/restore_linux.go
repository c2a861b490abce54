package netfilter

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
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
// its sliver's name) and the byuid map (each interval's start holds the
// sliver's mark).
func (t *Tagger) readElements() error {
	tx, err := t.conn.GetSetElements(setNamed(t.table, setTx))
	if err != nil {
		return fmt.Errorf("read map %s: %w", setTx, err)
	}
	for _, e := range tx {
		if i := elementIndex(e.Key); i != 0 && e.Comment != "" {
			t.slivers[e.Comment], t.byIndex[i] = Sliver{Name: e.Comment, Index: i}, e.Comment
		}
	}
	uids, err := t.conn.GetSetElements(setNamed(t.table, setByUID))
	if err != nil {
		return fmt.Errorf("read map %s: %w", setByUID, err)
	}
	// An interval is a start element and the end element of next higher
	// key.
	slices.SortFunc(uids, elementOrder)
	for i, e := range uids {
		s, ok := t.slivers[t.byIndex[elementIndex(e.Val)]]
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
	return nil
}

// Dump returns the table's rules and sets' elements as the kernel holds
// them, in the form of Plan (expressions the netlink library cannot
// decode, such as byteorder, are missing).
func (t *Tagger) Dump(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, chain := range []string{chainOutput, chainTag, chainInput} {
		rules, err := t.conn.GetRules(t.table, &nftables.Chain{Name: chain, Table: t.table})
		if err != nil {
			return "", fmt.Errorf("list rules of %s: %w", chain, err)
		}
		writeRules(&b, t.table.Name, chain, rules)
	}
	for _, s := range sets(t.table) {
		els, err := t.conn.GetSetElements(s)
		if err != nil {
			return "", fmt.Errorf("read set %s: %w", s.Name, err)
		}
		writeElements(&b, t.table.Name, s.Name, els)
	}
	return b.String(), nil
}
