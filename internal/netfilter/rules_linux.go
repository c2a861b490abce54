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

// Chains of the table. Output packets go through byuid, then bymark (by
// conntrack mark, then by socket mark); each
// sliver rule there jumps to the sliver's chain, which ends in accept, so a
// packet is tagged once.
const (
	chainOutput = "output"
	chainByUID  = "byuid"
	chainByMark = "bymark"
	chainInput  = "input"
)

// hookPriority runs the base chains after the filter chains (0), so a
// packet a firewall dropped is not counted, and after conntrack (-200), so
// the conntrack mark can be set.
const hookPriority = nftables.ChainPriority(100)

// sliverChain names a sliver's own chain.
func sliverChain(name string) string { return "sl_" + name }

// userData marks the dispatch rules of a sliver so Set and Remove find them.
func userData(name string) string { return "orbis:" + name }

// addBase queues the table, its base chains and the two regular chains the
// output chain jumps to. Adding what exists already changes nothing.
func addBase(c *nftables.Conn, t *nftables.Table, logGroup uint16) {
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	out := c.AddChain(&nftables.Chain{Name: chainOutput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityRef(hookPriority), Policy: &accept})
	c.AddChain(&nftables.Chain{Name: chainInput, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityRef(hookPriority), Policy: &accept})
	c.AddChain(&nftables.Chain{Name: chainByUID, Table: t})
	c.AddChain(&nftables.Chain{Name: chainByMark, Table: t})
	c.FlushChain(out)
	for _, r := range outputRules(t, logGroup) {
		c.AddRule(r)
	}
}

// outputRules are the output chain's: by socket UID first, then by mark;
// with a log group, the packets of no sliver (which come back from those
// jumps) are logged there without a prefix.
func outputRules(t *nftables.Table, logGroup uint16) []*nftables.Rule {
	out := &nftables.Chain{Name: chainOutput, Table: t}
	rules := []*nftables.Rule{
		{Table: t, Chain: out, Exprs: []expr.Any{jump(chainByUID)}},
		{Table: t, Chain: out, Exprs: []expr.Any{jump(chainByMark)}},
	}
	if logGroup != 0 {
		rules = append(rules, &nftables.Rule{Table: t, Chain: out, Exprs: []expr.Any{logTo(logGroup, "")}})
	}
	return rules
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

// addSliver queues s's counters, its chain (flushed and refilled) and its
// dispatch rules. The caller has queued the deletion of older dispatch
// rules.
func addSliver(c *nftables.Conn, t *nftables.Table, s Sliver, logGroup uint16) {
	for _, n := range []string{"tx_" + s.Name, "rx_" + s.Name} {
		c.AddObj(&nftables.CounterObj{Table: t, Name: n})
	}
	ch := c.AddChain(&nftables.Chain{Name: sliverChain(s.Name), Table: t})
	c.FlushChain(ch)
	for _, r := range sliverRules(t, s, logGroup) {
		c.AddRule(r)
	}
	for _, r := range dispatchRules(t, s) {
		c.AddRule(r)
	}
}

// sliverRules are the rules of s's own chain; with a log group, every
// packet is logged there with s's name as the prefix.
func sliverRules(t *nftables.Table, s Sliver, logGroup uint16) []*nftables.Rule {
	ch := &nftables.Chain{Name: sliverChain(s.Name), Table: t}
	low := setPriority(LowPriority(s.Index))
	exprss := [][]expr.Any{
		{imm(1, native32(s.Index)), &expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}},
		{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: "tx_" + s.Name}},
		cat(l4Type(unix.IPPROTO_ICMP, 8), low),     // ICMP echo request
		cat(l4Type(unix.IPPROTO_ICMPV6, 128), low), // ICMPv6 echo request
		cat(ipv4Options(), low),                    // IPv4 header with options
		cat(ipv6HopByHop(), low),                   // IPv6 hop-by-hop options
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

// dispatchRules send s's packets to its chain (output) or counter (input).
func dispatchRules(t *nftables.Table, s Sliver) []*nftables.Rule {
	ud := []byte(userData(s.Name))
	byUID := []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		// skuid is loaded in host order: compare in network order.
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Range{Op: expr.CmpOpEq, Register: 1,
			FromData: binaryutil.BigEndian.PutUint32(s.UIDBase),
			ToData:   binaryutil.BigEndian.PutUint32(s.UIDBase + s.UIDCount - 1)},
		jump(sliverChain(s.Name)),
	}
	byMark := cat(ctMark(s.Index), []expr.Any{jump(sliverChain(s.Name))})
	bySocketMark := cat(metaMark(SocketMark(s.Index)), []expr.Any{jump(sliverChain(s.Name))})
	rx := cat(ctMark(s.Index), []expr.Any{&expr.Objref{Type: int(nftables.ObjTypeCounter), Name: "rx_" + s.Name}})
	return []*nftables.Rule{
		{Table: t, Chain: &nftables.Chain{Name: chainByUID, Table: t}, Exprs: byUID, UserData: ud},
		{Table: t, Chain: &nftables.Chain{Name: chainByMark, Table: t}, Exprs: byMark, UserData: ud},
		{Table: t, Chain: &nftables.Chain{Name: chainByMark, Table: t}, Exprs: bySocketMark, UserData: ud},
		{Table: t, Chain: &nftables.Chain{Name: chainInput, Table: t}, Exprs: rx, UserData: ud},
	}
}

// ctMark matches a conntrack mark.
func ctMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native32(mark)},
	}
}

// metaMark matches a packet's mark (skb->mark, from its socket's SO_MARK).
func metaMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native32(mark)},
	}
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

func jump(chain string) expr.Any { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

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

// chainOrder is the order in which the table's chains are shown: the fixed
// ones, then the slivers' by name.
func chainOrder(slivers []string) []string {
	sort.Strings(slivers)
	out := []string{chainOutput, chainByUID, chainByMark, chainInput}
	for _, s := range slivers {
		out = append(out, sliverChain(s))
	}
	return out
}
