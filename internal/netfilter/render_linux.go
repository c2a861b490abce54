package netfilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

// Plan renders what Set would ask the kernel for, for these slivers in a
// fresh table: the rules in the form `nft --debug=netlink` prints, then the
// sets' elements. It needs no privilege; tests compare it with a golden
// file.
func Plan(table string, slivers []Sliver) string {
	t := &nftables.Table{Name: table, Family: nftables.TableFamilyINet}
	byChain := map[string][]*nftables.Rule{}
	for _, r := range tableRules(t, 0) {
		byChain[r.Chain.Name] = append(byChain[r.Chain.Name], r)
	}
	bySet := map[string][]nftables.SetElement{}
	for _, s := range slivers {
		for m, els := range sliverElements(s) {
			bySet[m] = append(bySet[m], els...)
		}
	}
	var parts []string
	for name := range bySet {
		if start, ok := uidPartStart(name); ok {
			parts = append(parts, name)
			byChain[name] = []*nftables.Rule{uidPartRule(t, name)}
			bySet[setUIDParts] = append(bySet[setUIDParts],
				nftables.SetElement{Key: binaryutil.BigEndian.PutUint32(start), VerdictData: jumpTo(name)})
		}
	}
	slices.Sort(parts)
	var b strings.Builder
	for _, c := range append([]string{chainOutput, chainTag, chainInput}, parts...) {
		writeRules(&b, table, c, byChain[c])
	}
	for _, s := range append(sets(t), partSets(t, parts)...) {
		writeElements(&b, table, s.Name, bySet[s.Name])
	}
	return b.String()
}

// writeRules writes one chain's rules as libnftnl's debug output does.
func writeRules(w io.Writer, table, chain string, rules []*nftables.Rule) {
	for _, r := range rules {
		fmt.Fprintf(w, "inet %s %s\n", table, chain)
		for _, e := range r.Exprs {
			fmt.Fprintf(w, "  [ %s ]\n", exprString(e))
		}
		fmt.Fprintln(w)
	}
}

// writeElements writes one set's elements in key order, one a line: the
// key's words, then the data's (or "end", for the end of an interval),
// then the comment.
func writeElements(w io.Writer, table, set string, els []nftables.SetElement) {
	els = slices.Clone(els)
	slices.SortFunc(els, elementOrder)
	fmt.Fprintf(w, "inet %s set %s\n", table, set)
	for _, e := range els {
		line := "  element " + words(e.Key)
		switch {
		case e.IntervalEnd:
			line += " end"
		case e.VerdictData != nil:
			line += " : " + verdictString(e.VerdictData)
		case len(e.Val) > 0:
			line += " : " + words(e.Val)
		}
		if e.Comment != "" {
			line += fmt.Sprintf(" comment %q", e.Comment)
		}
		fmt.Fprintln(w, line)
	}
	fmt.Fprintln(w)
}

// elementOrder orders elements by key, an interval's end before the start
// of the next at the same key.
func elementOrder(a, b nftables.SetElement) int {
	if c := bytes.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	switch {
	case a.IntervalEnd == b.IntervalEnd:
		return 0
	case a.IntervalEnd:
		return -1
	}
	return 1
}

var (
	metaKeys = map[expr.MetaKey]string{expr.MetaKeySKUID: "skuid", expr.MetaKeyL4PROTO: "l4proto",
		expr.MetaKeyNFPROTO: "nfproto", expr.MetaKeyPRIORITY: "priority", expr.MetaKeyMARK: "mark"}
	cmpOps = map[expr.CmpOp]string{expr.CmpOpEq: "eq", expr.CmpOpNeq: "neq", expr.CmpOpLt: "lt",
		expr.CmpOpLte: "lte", expr.CmpOpGt: "gt", expr.CmpOpGte: "gte"}
	payloadBases = map[expr.PayloadBase]string{expr.PayloadBaseLLHeader: "link",
		expr.PayloadBaseNetworkHeader: "network", expr.PayloadBaseTransportHeader: "transport"}
)

// exprString renders the expressions this package uses; others by type.
func exprString(e expr.Any) string {
	switch e := e.(type) {
	case *expr.Meta:
		if e.SourceRegister {
			return fmt.Sprintf("meta set %s with reg %d", metaKeys[e.Key], e.Register)
		}
		return fmt.Sprintf("meta load %s => reg %d", metaKeys[e.Key], e.Register)
	case *expr.Byteorder:
		op := map[expr.ByteorderOp]string{expr.ByteorderHton: "hton", expr.ByteorderNtoh: "ntoh"}[e.Op]
		return fmt.Sprintf("byteorder reg %d = %s(reg %d, %d, %d)", e.DestRegister, op, e.SourceRegister, e.Size, e.Len)
	case *expr.Range:
		return fmt.Sprintf("range %s reg %d %s %s", cmpOps[e.Op], e.Register, words(e.FromData), words(e.ToData))
	case *expr.Cmp:
		return fmt.Sprintf("cmp %s reg %d %s", cmpOps[e.Op], e.Register, words(e.Data))
	case *expr.Ct:
		if e.SourceRegister {
			return fmt.Sprintf("ct set %s with reg %d", ctKey(e.Key), e.Register)
		}
		return fmt.Sprintf("ct load %s => reg %d", ctKey(e.Key), e.Register)
	case *expr.Immediate:
		return fmt.Sprintf("immediate reg %d %s", e.Register, words(e.Data))
	case *expr.Verdict:
		return verdictString(e)
	case *expr.Payload:
		return fmt.Sprintf("payload load %db @ %s header + %d => reg %d", e.Len, payloadBases[e.Base], e.Offset, e.DestRegister)
	case *expr.Bitwise:
		return fmt.Sprintf("bitwise reg %d = ( reg %d & %s ) ^ %s", e.DestRegister, e.SourceRegister, words(e.Mask), words(e.Xor))
	case *expr.Exthdr:
		present := ""
		if e.Flags&1 != 0 {
			present = " present"
		}
		return fmt.Sprintf("exthdr load ipv6 %db @ %d + %d%s => reg %d", e.Len, e.Type, e.Offset, present, e.DestRegister)
	case *expr.Lookup:
		if !e.IsDestRegSet {
			return fmt.Sprintf("lookup reg %d set %s", e.SourceRegister, e.SetName)
		}
		return fmt.Sprintf("lookup reg %d set %s dreg %d", e.SourceRegister, e.SetName, e.DestRegister)
	case *expr.Objref:
		return fmt.Sprintf("objref type %d name %s", e.Type, e.Name)
	case *expr.Counter:
		return fmt.Sprintf("counter pkts %d bytes %d", e.Packets, e.Bytes)
	}
	return fmt.Sprintf("%T", e)
}

func ctKey(k expr.CtKey) string {
	if k == expr.CtKeyMARK {
		return "mark"
	}
	return fmt.Sprintf("key%d", k)
}

func verdictString(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "immediate reg 0 accept"
	case expr.VerdictDrop:
		return "immediate reg 0 drop"
	case expr.VerdictJump:
		return "immediate reg 0 jump -> " + v.Chain
	case expr.VerdictGoto:
		return "immediate reg 0 goto -> " + v.Chain
	case expr.VerdictReturn:
		return "immediate reg 0 return"
	}
	return fmt.Sprintf("immediate reg 0 verdict %d", v.Kind)
}

// words shows register data as libnftnl does: 32-bit host-order words,
// the last one zero-padded.
func words(b []byte) string {
	var parts []string
	for len(b) > 0 {
		var w [4]byte
		n := copy(w[:], b)
		b = b[n:]
		parts = append(parts, fmt.Sprintf("0x%08x", binary.NativeEndian.Uint32(w[:])))
	}
	return strings.Join(parts, " ")
}
