package netfilter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// UID ranges are looked up in two steps. The kernel rebuilds the whole of
// an interval set on every change (a sorted array, for lookups without
// locks), so one set of every sliver's range would make adding a sliver
// cost time in proportion to the slivers. Instead the UID space is cut in
// parts of 2^uidPartBits UIDs: the map uidparts sends a packet, by its
// socket UID's part, to the part's chain, whose one rule looks the UID up
// in the part's own interval map (of the same name) and tags the packet
// with the sliver's mark. A part holds the few slivers whose ranges meet
// it; a range that crosses parts has a piece in each. A part's chain and
// map are made with its first sliver and kept, empty, when it has none
// (at most 2^(32-uidPartBits) of them).
const (
	setUIDParts = "uidparts"
	uidPartBits = 20
	uidPartMask = uint32(1<<32 - 1<<uidPartBits)
	uidPartPfx  = "uid_"
)

// uidPart names the chain and map of the part holding uid.
func uidPart(uid uint32) string { return fmt.Sprintf("%s%03x", uidPartPfx, uid>>uidPartBits) }

// uidPartStart is the first UID of a part, from its name.
func uidPartStart(name string) (uint32, bool) {
	h, ok := strings.CutPrefix(name, uidPartPfx)
	n, err := strconv.ParseUint(h, 16, 32-uidPartBits)
	return uint32(n) << uidPartBits, ok && err == nil
}

// uidPartSet is a part's interval map: UID (network byte order) to mark.
func uidPartSet(t *nftables.Table, name string) *nftables.Set {
	return &nftables.Set{Table: t, Name: name, IsMap: true, Interval: true, KeyType: nftables.TypeUID,
		DataType: nftables.TypeMark, KeyByteOrder: binaryutil.BigEndian}
}

// partSets are the maps of these parts.
func partSets(t *nftables.Table, names []string) []*nftables.Set {
	out := make([]*nftables.Set, len(names))
	for i, n := range names {
		out[i] = uidPartSet(t, n)
	}
	return out
}

// uidPartsRule is the output chain's first rule: jump to the chain of the
// socket UID's part, if it has one.
func uidPartsRule(t *nftables.Table) *nftables.Rule {
	return &nftables.Rule{Table: t, Chain: &nftables.Chain{Name: chainOutput, Table: t}, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		// skuid is loaded in host order: look up in network order.
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.BigEndian.PutUint32(uidPartMask), Xor: make([]byte, 4)},
		&expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: setUIDParts}, // a verdict
	}}
}

// uidPartRule is the one rule of a part's chain: a packet whose socket UID
// is in a sliver's range gets the sliver's mark, as its own and its
// connection's, and goes to tag.
func uidPartRule(t *nftables.Table, name string) *nftables.Rule {
	return &nftables.Rule{Table: t, Chain: &nftables.Chain{Name: name, Table: t}, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		lookup(name, 1),
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true},
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true},
		jumpTo(chainTag),
	}}
}

// addUIDPart queues a part's map, chain and rule, and its element in
// uidparts.
func addUIDPart(c *nftables.Conn, t *nftables.Table, name string) error {
	start, ok := uidPartStart(name)
	if !ok {
		return fmt.Errorf("bad UID part %q", name)
	}
	if err := c.AddSet(uidPartSet(t, name), nil); err != nil {
		return err
	}
	c.FlushChain(c.AddChain(&nftables.Chain{Name: name, Table: t}))
	c.AddRule(uidPartRule(t, name))
	return c.SetAddElements(setNamed(t, setUIDParts), []nftables.SetElement{
		{Key: binaryutil.BigEndian.PutUint32(start), VerdictData: jumpTo(name)}})
}

// uidElements are the pieces of s's UID range, one interval in each part it
// meets, each ending one past its last UID (Validate keeps that in 32
// bits), by part name.
func uidElements(s Sliver) elements {
	out := elements{}
	mark := native32(SocketMark(s.Index))
	end := uint64(s.UIDBase) + uint64(s.UIDCount)
	for from := uint64(s.UIDBase); from < end; {
		to := min(end, from&uint64(uidPartMask)+1<<uidPartBits)
		out[uidPart(uint32(from))] = []nftables.SetElement{
			{Key: binaryutil.BigEndian.PutUint32(uint32(from)), Val: mark},
			{Key: binaryutil.BigEndian.PutUint32(uint32(to)), IntervalEnd: true},
		}
		from = to
	}
	return out
}
