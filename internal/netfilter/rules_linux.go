package netfilter

import (
	"encoding/binary"
	"slices"
	"sort"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Chains and maps of the table. The base chains hold a fixed handful of
// rules, whatever the number of slivers: each looks a packet up in a
// verdict map (a hash or an interval tree in the kernel) whose element
// jumps to the sliver's own chain, so the work per packet does not grow
// with the slivers, and adding or removing a sliver changes map elements,
// never the base chains.
//
//   - output: `meta skuid vmap @byuid` (UID range intervals), then
//     `meta mark vmap @bysocket` (SocketMark), then `ct mark vmap @bymark`
//     (Index); each element jumps to sl_<name>, which ends in accept, so a
//     packet is tagged once. A socket mark comes before the conntrack mark:
//     only the agent sets it, on purpose.
//   - input: `ct mark vmap @rx` jumps to in_<name>, which counts.
const (
	chainOutput = "output"
	chainInput  = "input"
	mapByUID    = "byuid"
	mapBySocket = "bysocket"
	mapByMark   = "bymark"
	mapRx       = "rx"
)

// hookPriority runs the base chains after the filter chains (0), so a
// packet a firewall dropped is not counted, and after conntrack (-200), so
// the conntrack mark can be set.
const hookPriority = nftables.ChainPriority(100)

// sliverChain names a sliver's output chain; inChain its input chain.
func sliverChain(name string) string { return "sl_" + name }
func inChain(name string) string     { return "in_" + name }

// txCounter and rxCounter name a sliver's counters.
func txCounter(name string) string { return "tx_" + name }
func rxCounter(name string) string { return "rx_" + name }

// vmaps are the table's verdict maps. byuid is keyed by UID intervals in
// network byte order (the rule converts skuid, as the nft command line
// does); the others by a 32-bit mark in host order.
func vmaps(t *nftables.Table) []*nftables.Set {
	mark := func(name string) *nftables.Set {
		return &nftables.Set{Table: t, Name: name, IsMap: true, KeyType: nftables.TypeMark,
			DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.NativeEndian}
	}
	return []*nftables.Set{
		{Table: t, Name: mapByUID, IsMap: true, Interval: true, KeyType: nftables.TypeUID,
			DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.BigEndian},
		mark(mapBySocket), mark(mapByMark), mark(mapRx),
	}
}

// addBase queues the table, its maps and its base chains (flushed and
// refilled). Adding what exists already changes nothing, and keeps the
// maps' elements.
func addBase(c *nftables.Conn, t *nftables.Table, logGroup uint16) error {
	c.AddTable(t)
	for _, m := range vmaps(t) {
		if err := c.AddSet(m, nil); err != nil {
			return err
		}
	}
	accept := nftables.ChainPolicyAccept
	prio := nftables.ChainPriorityRef(hookPriority)
	out := c.AddChain(&nftables.Chain{Name: chainOutput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: prio, Policy: &accept})
	in := c.AddChain(&nftables.Chain{Name: chainInput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: prio, Policy: &accept})
	c.FlushChain(out)
	c.FlushChain(in)
	for _, r := range baseRules(t, logGroup) {
		c.AddRule(r)
	}
	return nil
}

// baseRules are the base chains' rules: the output chain looks up the
// socket's UID, the socket mark and the conntrack mark; with a log group,
// the packets of no sliver (which come back from those lookups) are logged
// there without a prefix. The input chain looks up the conntrack mark.
func baseRules(t *nftables.Table, logGroup uint16) []*nftables.Rule {
	out := &nftables.Chain{Name: chainOutput, Table: t}
	in := &nftables.Chain{Name: chainInput, Table: t}
	rules := []*nftables.Rule{
		{Table: t, Chain: out, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
			// skuid is loaded in host order: look up in network order.
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			lookup(mapByUID)}},
		{Table: t, Chain: out, Exprs: []expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: 1}, lookup(mapBySocket)}},
		{Table: t, Chain: out, Exprs: []expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1}, lookup(mapByMark)}},
	}
	if logGroup != 0 {
		rules = append(rules, &nftables.Rule{Table: t, Chain: out, Exprs: []expr.Any{logTo(logGroup, "")}})
	}
	return append(rules, &nftables.Rule{Table: t, Chain: in,
		Exprs: []expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1}, lookup(mapRx)}})
}

// lookup is `vmap @name` on register 1: the verdict of the element found,
// or nothing (the next rule) when there is none.
func lookup(set string) expr.Any {
	return &expr.Lookup{SourceRegister: 1, DestRegister: 0, IsDestRegSet: true, SetName: set}
}

// logTo is `log prefix <prefix> group <group>`: the packet's headers (up
// to LogSnap bytes) go to the NFLOG group, a few at a time.
func logTo(group uint16, prefix string) expr.Any {
	l := &expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_SNAPLEN | 1<<unix.NFTA_LOG_QTHRESHOLD,
		Group: group, Snaplen: LogSnap, QThreshold: 16}
	if prefix != "" {
		l.Key |= 1 << unix.NFTA_LOG_PREFIX
		l.Data = []byte(prefix)
	}
	return l
}

// addChains queues s's counters and chains (flushed and refilled); adding
// a counter that exists keeps its counts.
func addChains(c *nftables.Conn, t *nftables.Table, s Sliver, logGroup uint16) {
	c.AddObj(&nftables.CounterObj{Table: t, Name: txCounter(s.Name)})
	c.AddObj(&nftables.CounterObj{Table: t, Name: rxCounter(s.Name)})
	for _, name := range []string{sliverChain(s.Name), inChain(s.Name)} {
		c.FlushChain(c.AddChain(&nftables.Chain{Name: name, Table: t}))
	}
	for _, r := range sliverRules(t, s, logGroup) {
		c.AddRule(r)
	}
	c.AddRule(inRule(t, s.Name))
}

// delChains queues the deletion of name's chains and counters (after its
// elements, which refer to the chains).
func delChains(c *nftables.Conn, t *nftables.Table, name string) {
	for _, n := range []string{sliverChain(name), inChain(name)} {
		ch := &nftables.Chain{Name: n, Table: t}
		c.FlushChain(ch)
		c.DelChain(ch)
	}
	c.DeleteObject(&nftables.CounterObj{Table: t, Name: txCounter(name)})
	c.DeleteObject(&nftables.CounterObj{Table: t, Name: rxCounter(name)})
}

// elements are s's entries in each map, by map name.
type elements map[string][]nftables.SetElement

// sliverElements are the map elements that send s's packets to its chains.
// Its UID interval ends one past its last UID (Validate keeps that in 32
// bits).
func sliverElements(s Sliver) elements {
	out, in := jumpTo(sliverChain(s.Name)), jumpTo(inChain(s.Name))
	return elements{
		mapByUID: {
			{Key: binaryutil.BigEndian.PutUint32(s.UIDBase), VerdictData: out},
			{Key: binaryutil.BigEndian.PutUint32(s.UIDBase + s.UIDCount), IntervalEnd: true},
		},
		mapBySocket: {{Key: native32(SocketMark(s.Index)), VerdictData: out}},
		mapByMark:   {{Key: native32(s.Index), VerdictData: out}},
		mapRx:       {{Key: native32(s.Index), VerdictData: in}},
	}
}

// changedElements are the maps whose elements for a and b differ: the UID
// map if their UID ranges do, the others if their Index does.
func changedElements(a, b Sliver) []string {
	var out []string
	if a.UIDBase != b.UIDBase || a.UIDCount != b.UIDCount {
		out = append(out, mapByUID)
	}
	if a.Index != b.Index {
		out = append(out, mapBySocket, mapByMark, mapRx)
	}
	return out
}

// sliverRules are the rules of s's output chain; with a log group, every
// packet is logged there with s's name as the prefix.
func sliverRules(t *nftables.Table, s Sliver, logGroup uint16) []*nftables.Rule {
	ch := &nftables.Chain{Name: sliverChain(s.Name), Table: t}
	low := setPriority(LowPriority(s.Index))
	exprss := [][]expr.Any{
		{imm(1, native32(s.Index)), &expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}},
		{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: txCounter(s.Name)}},
		cat(l4Type(unix.IPPROTO_ICMP, 8), low),     // ICMP echo request
		cat(l4Type(unix.IPPROTO_ICMPV6, 128), low), // ICMPv6 echo request
		cat(ipv4Options(), low),  // IPv4 header with options
		cat(ipv6HopByHop(), low), // IPv6 hop-by-hop options
		setPriority(Priority(s.Index)),
	}
	if logGroup != 0 {
		exprss = slices.Insert(exprss, 2, []expr.Any{logTo(logGroup, s.Name)})
	}
	rules := make([]*nftables.Rule, len(exprss))
	for i, e := range exprss {
		rules[i] = &nftables.Rule{Table: t, Chain: ch, Exprs: e}
	}
	return rules
}

// inRule is the rule of s's input chain: count.
func inRule(t *nftables.Table, name string) *nftables.Rule {
	return &nftables.Rule{Table: t, Chain: &nftables.Chain{Name: inChain(name), Table: t},
		Exprs: []expr.Any{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: rxCounter(name)}}}
}

// l4Type matches a transport protocol and the first byte of its header
// (the ICMP type).
func l4Type(proto, typ byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{typ}},
	}
}

// ipv4Options matches an IPv4 header longer than 5 words.
func ipv4Options() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x0f}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{5}},
	}
}

// ipv6HopByHop matches an IPv6 packet with a hop-by-hop options header.
func ipv6HopByHop() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV6}},
		&expr.Exthdr{DestRegister: 1, Type: 0, Offset: 0, Len: 1, Flags: unix.NFT_EXTHDR_F_PRESENT, Op: expr.ExthdrOpIpv6},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}},
	}
}

// setPriority sets skb->priority and accepts (which ends the output chain
// for this table).
func setPriority(prio uint32) []expr.Any {
	return []expr.Any{
		imm(1, native32(prio)),
		&expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1, SourceRegister: true},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

func jumpTo(chain string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

func imm(reg uint32, data []byte) expr.Any { return &expr.Immediate{Register: reg, Data: data} }

// native32 is a 32-bit value in host byte order, as the kernel keeps marks
// and priorities in registers.
func native32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func cat(parts ...[]expr.Any) []expr.Any {
	var out []expr.Any
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// chainOrder is the order in which the table's chains are shown: the base
// ones, then each sliver's by name.
func chainOrder(slivers []string) []string {
	sort.Strings(slivers)
	out := []string{chainOutput, chainInput}
	for _, s := range slivers {
		out = append(out, sliverChain(s), inChain(s))
	}
	return out
}
