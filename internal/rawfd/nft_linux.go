package rawfd

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"

	"github.com/orbisproject/orbis/internal/netfilter"
)

// table is the nftables table of the raw sockets (see the package
// comment), handled with nft(8) on the worker's thread.
type table struct {
	name string
	w    *worker
}

// pingTimeout is how long an ICMP identifier that an ICMP datagram (ping)
// socket or the node sent an echo request with stays closed to raw
// sockets after its last one: conntrack's ICMP timeout.
const pingTimeout = "30s"

// ctLabelRaw is the conntrack label bit of the echo flows that raw
// sockets started.
const ctLabelRaw = 120

// ruleset is the table's text: %[1]s the table, %#[2]x the raw socket mark
// base, %#[3]x netfilter's socket mark base, %[4]s pingTimeout, %[5]d
// ctLabelRaw.
//
// Echo requests and replies are the slice's by their conntrack flow
// (addresses and identifier): a raw socket may start a flow or go on with
// one of its slice's (ct mark), never join another's, so it cannot take
// over another slice's ping, nor a host's ping of the node. The kernel
// hands echo replies to an ICMP datagram socket by identifier alone,
// whatever their source: so a raw socket may not use an identifier such a
// socket (or the node) pings with, and a ping socket's echo request that
// joins a raw socket's flow takes the flow from the slice.
const ruleset = `table inet %[1]s {
	# mark . protocol . port: the TCP and UDP ports each slice's raw
	# sockets may send from (the slice holds them alone).
	set ports {
		type mark . inet_proto . inet_service
	}
	# protocol . port -> the slice's socket mark: packets to these ports
	# reach that slice's raw sockets.
	map owner {
		type inet_proto . inet_service : mark
	}
	# raw socket mark . socket mark of each served slice: the connection
	# marks its raw sockets' echo packets may go on with.
	set slices {
		type mark . mark
	}
	# Identifiers of ICMP datagram sockets' and the node's echo requests.
	set pinged4 {
		typeof icmp id
		size 65536
		flags dynamic,timeout
		timeout %[4]s
	}
	set pinged6 {
		typeof icmpv6 id
		size 65536
		flags dynamic,timeout
		timeout %[4]s
	}
	chain output {
		type filter hook output priority -5; policy accept;
		meta mark & 0xffff0000 == %#[2]x goto raw
		icmp type echo-request goto ping4
		icmpv6 type echo-request goto ping6
	}
	chain raw {
		fib saddr type != local drop
		ip frag-off & 0x3fff != 0 drop
		ip option lsrr exists drop
		ip option ssrr exists drop
		exthdr frag exists drop
		exthdr rt exists drop
		meta l4proto { tcp, udp } meta mark . meta l4proto . th sport @ports goto ok
		icmp type { echo-request, echo-reply } goto echo4
		icmpv6 type { echo-request, echo-reply } goto echo6
		drop
	}
	chain echo4 {
		icmp id @pinged4 drop
		goto echo
	}
	chain echo6 {
		icmpv6 id @pinged6 drop
		goto echo
	}
	chain echo {
		icmp type echo-request ct state new ct label set %[5]d goto ok
		icmpv6 type echo-request ct state new ct label set %[5]d goto ok
		ct state established meta mark . ct mark @slices goto ok
		drop
	}
	chain ok {
		ct mark set meta mark & 0xffff | %#[3]x
	}
	chain ping4 {
		update @pinged4 { icmp id }
		ct label %[5]d ct mark set 0
	}
	chain ping6 {
		update @pinged6 { icmpv6 id }
		ct label %[5]d ct mark set 0
	}
	chain input {
		type filter hook input priority -5; policy accept;
		ct mark & 0xffff0000 == %#[3]x meta mark set ct mark accept
		meta l4proto { tcp, udp } meta mark set meta l4proto . th dport map @owner
	}
}
`

// install replaces any table of the name with a fresh one.
func (t *table) install() error {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s\ndelete table inet %s\n", t.name, t.name)
	fmt.Fprintf(&b, ruleset, t.name, rawMarkBase, netfilter.SocketMark(0), pingTimeout, ctLabelRaw)
	if err := t.run(b.String()); err != nil {
		return fmt.Errorf("install nft table %s: %w", t.name, err)
	}
	return nil
}

// setPorts changes the elements of mark's slice from have to want, in one
// transaction.
func (t *table) setPorts(mark uint32, have, want map[Port]bool) error {
	var b strings.Builder
	for _, p := range sortedPorts(have) {
		if !want[p] {
			fmt.Fprintf(&b, "delete element inet %s ports { %#x . %d . %d }\n", t.name, mark, p.Proto, p.Port)
			fmt.Fprintf(&b, "delete element inet %s owner { %d . %d }\n", t.name, p.Proto, p.Port)
		}
	}
	for _, p := range sortedPorts(want) {
		if !have[p] {
			fmt.Fprintf(&b, "add element inet %s ports { %#x . %d . %d }\n", t.name, mark, p.Proto, p.Port)
			fmt.Fprintf(&b, "add element inet %s owner { %d . %d : %#x }\n", t.name, p.Proto, p.Port, recvMarkOfRaw(mark))
		}
	}
	if b.Len() == 0 {
		return nil
	}
	return t.run(b.String())
}

// setSlice adds (or, with !on, removes) the slice of index to the slices
// whose raw sockets may go on with their echo flows.
func (t *table) setSlice(index uint32, on bool) error {
	op := "delete"
	if on {
		op = "add"
	}
	return t.run(fmt.Sprintf("%s element inet %s slices { %#x . %#x }\n", op, t.name, RawMark(index), recvMark(index)))
}

// recvMarkOfRaw is the slice mark of a raw socket mark.
func recvMarkOfRaw(mark uint32) uint32 { return recvMark(mark & 0xffff) }

func sortedPorts(m map[Port]bool) []Port {
	ps := make([]Port, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		return ps[i].Proto < ps[j].Proto || ps[i].Proto == ps[j].Proto && ps[i].Port < ps[j].Port
	})
	return ps
}

// remove deletes the table.
func (t *table) remove() error {
	if err := t.run(fmt.Sprintf("table inet %s\ndelete table inet %s\n", t.name, t.name)); err != nil {
		return fmt.Errorf("remove nft table %s: %w", t.name, err)
	}
	return nil
}

// run feeds script to nft -f on the worker's thread, so that it runs in
// the worker's network namespace.
func (t *table) run(script string) error {
	var err error
	t.w.do(func() {
		cmd := exec.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if rerr := cmd.Run(); rerr != nil {
			err = fmt.Errorf("nft: %w: %s", rerr, bytes.TrimSpace(out.Bytes()))
		}
	})
	return err
}
