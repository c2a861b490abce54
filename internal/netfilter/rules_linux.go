package netfilter

import (
	"encoding/binary"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The table's chains and sets. Its rules are fixed, a handful, whatever the
// number of slivers: each looks a packet up in a set (a hash, or a small
// interval map for UIDs, see uidparts_linux.go), so the work per packet
// does not grow with the slivers, and adding or removing a sliver adds or
// deletes elements only. No element jumps to a chain of its own, which
// would make the kernel check every such chain on each change. Every key
// and value below is a sliver's mark, its SocketMark.
//
//   - output: a packet whose socket UID is in a sliver's range (looked up
//     in its UID part's map) gets the sliver's mark as its mark and its
//     connection's (ct mark); failing that, a packet whose mark is in
//     @marks (a socket the agent marked) gives it to its connection;
//     failing that, a packet whose connection's mark is in @marks (packets
//     the kernel sends for a sliver's socket) gets it. Each then jumps to
//     tag.
//   - tag: the packet is counted in its mark's element of @tx, logged, and
//     gets its priority from @lowprio (ICMP echo requests, IP options) or
//     @prio, then accept.
//   - input: a packet whose connection's mark is in @rx is counted there.
//
// A register does not carry a value from one rule to the next (the kernel
// refuses to load one the rule has not stored), hence the packet's mark.
const (
	chainOutput = "output"
	chainInput  = "input"
	chainTag    = "tag"
	setMarks    = "marks"
	setTx       = "tx"
	setRx       = "rx"
	setPrio     = "prio"
	setLowPrio  = "lowprio"
)

// hookPriority runs the base chains after the filter chains (0), so a
// packet a firewall dropped is not counted, and after conntrack (-200), so
// the conntrack mark can be set.
const hookPriority = nftables.ChainPriority(100)

// sets are the table's fixed sets and maps, in the order they are shown.
// uidparts is keyed by the first UID of a part in network byte order (the
// rule converts skuid, as the nft command line does); the others by a mark
// in host order. tx and rx count packets and bytes in each element.
func sets(t *nftables.Table) []*nftables.Set {
	mark := func(name string, data nftables.SetDatatype, counter bool) *nftables.Set {
		return &nftables.Set{Table: t, Name: name, IsMap: data != nftables.TypeInvalid, KeyType: nftables.TypeMark,
			DataType: data, Counter: counter, KeyByteOrder: binaryutil.NativeEndian}
	}
	return []*nftables.Set{
		{Table: t, Name: setUIDParts, IsMap: true, KeyType: nftables.TypeUID,
			DataType: nftables.TypeVerdict, KeyByteOrder: binaryutil.BigEndian},
		mark(setMarks, nftables.TypeInvalid, false),
		mark(setTx, nftables.TypeInvalid, true),
		mark(setRx, nftables.TypeInvalid, true),
		mark(setPrio, nftables.TypeClassID, false),
		mark(setLowPrio, nftables.TypeClassID, false),
	}
}

// setNamed is the set of that name, as sets or uidPartSet describes it.
func setNamed(t *nftables.Table, name string) *nftables.Set {
	if strings.HasPrefix(name, uidPartPfx) {
		return uidPartSet(t, name)
	}
	for _, s := range sets(t) {
		if s.Name == name {
			return s
		}
	}
	panic("netfilter: no set " + name)
}

// addBase queues the table, its sets and its chains (flushed and
// refilled). Adding what exists already changes nothing, and keeps the
// sets' elements.
func addBase(c *nftables.Conn, t *nftables.Table, logGroup uint16) error {
	c.AddTable(t)
	for _, s := range sets(t) {
		if err := c.AddSet(s, nil); err != nil {
			return err
		}
	}
	accept := nftables.ChainPolicyAccept
	prio := nftables.ChainPriorityRef(hookPriority)
	for _, ch := range []*nftables.Chain{
		{Name: chainOutput, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookOutput, Priority: prio, Policy: &accept},
		{Name: chainInput, Table: t, Type: nftables.ChainTypeFilter, Hooknum: nftables.ChainHookInput, Priority: prio, Policy: &accept},
		{Name: chainTag, Table: t},
	} {
		c.FlushChain(c.AddChain(ch))
	}
	for _, r := range tableRules(t, logGroup) {
		c.AddRule(r)
	}
	return nil
}

// tableRules are all the table's rules (see the comment on the chains);
// with a log group, the packets of no sliver (which come back from the
// lookups) are logged in the output chain, those of a sliver in tag.
func tableRules(t *nftables.Table, logGroup uint16) []*nftables.Rule {
	var rules []*nftables.Rule
	add := func(chain string, e ...expr.Any) {
		rules = append(rules, &nftables.Rule{Table: t, Chain: &nftables.Chain{Name: chain, Table: t}, Exprs: e})
	}
	loadMark := &expr.Meta{Key: expr.MetaKeyMARK, Register: 1}
	setMark := &expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true}
	loadCt := &expr.Ct{Key: expr.CtKeyMARK, Register: 1}
	setCt := &expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}
	rules = append(rules, uidPartsRule(t))
	add(chainOutput, loadMark, lookup(setMarks, 0), setCt, jumpTo(chainTag))
	add(chainOutput, loadCt, lookup(setMarks, 0), setMark, jumpTo(chainTag))
	if logGroup != 0 {
		add(chainOutput, logTo(logGroup))
	}
	add(chainTag, loadMark, lookup(setTx, 0))
	if logGroup != 0 {
		add(chainTag, logTo(logGroup))
	}
	low := setPriority(setLowPrio)
	add(chainTag, cat(l4Type(unix.IPPROTO_ICMP, 8), low)...)     // ICMP echo request
	add(chainTag, cat(l4Type(unix.IPPROTO_ICMPV6, 128), low)...) // ICMPv6 echo request
	add(chainTag, cat(ipv4Options(), low)...)                    // IPv4 header with options
	add(chainTag, cat(ipv6HopByHop(), low)...)                   // IPv6 hop-by-hop options
	add(chainTag, setPriority(setPrio)...)
	add(chainInput, loadCt, lookup(setRx, 0))
	return rules
}

// lookup looks register 1 up in a set; with dreg (not 0) it loads the
// element's data there. A packet with no element goes to the next rule.
func lookup(set string, dreg uint32) expr.Any {
	return &expr.Lookup{SourceRegister: 1, DestRegister: dreg, IsDestRegSet: dreg != 0, SetName: set}
}

// logTo is `log group <group>`: the packet's headers (up to LogSnap bytes)
// and its mark go to the NFLOG group, a few at a time.
func logTo(group uint16) expr.Any {
	return &expr.Log{Key: 1<<unix.NFTA_LOG_GROUP | 1<<unix.NFTA_LOG_SNAPLEN | 1<<unix.NFTA_LOG_QTHRESHOLD,
		Group: group, Snaplen: LogSnap, QThreshold: 16}
}

// elements are a sliver's elements, by set name.
type elements map[string][]nftables.SetElement

// sliverElements are the elements that tag s's packets, by set name: the
// pieces of its UID range (uidElements), and its mark in the others. Its
// name is the comment of its tx element, where a restarted Tagger reads it
// back.
func sliverElements(s Sliver) elements {
	mark := native32(SocketMark(s.Index))
	out := uidElements(s)
	out[setMarks] = []nftables.SetElement{{Key: mark}}
	out[setTx] = []nftables.SetElement{{Key: mark, Comment: s.Name}}
	out[setRx] = []nftables.SetElement{{Key: mark}}
	out[setPrio] = []nftables.SetElement{{Key: mark, Val: native32(Priority(s.Index))}}
	out[setLowPrio] = []nftables.SetElement{{Key: mark, Val: native32(LowPriority(s.Index))}}
	return out
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

// setPriority sets skb->priority to the data of the packet's mark in a
// priority map, and accepts (which ends the output chain for this table).
func setPriority(prioMap string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		lookup(prioMap, 1),
		&expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1, SourceRegister: true},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

func jumpTo(chain string) *expr.Verdict { return &expr.Verdict{Kind: expr.VerdictJump, Chain: chain} }

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
