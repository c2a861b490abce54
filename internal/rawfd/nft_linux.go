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

// idTimeout is how long an ICMP identifier stays a slice's after its
// raw sockets last sent with it.
const idTimeout = "2m"

// ruleset is the table's text: %[1]s the table, %#[2]x the raw socket mark
// base, %#[3]x netfilter's socket mark base, %[4]s idTimeout.
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
	# ICMP(v6) identifiers the raw sockets use, and whose they are: first
	# come, first served, until unused for a while.
	set ids4 {
		typeof icmp id
		size 65536
		flags dynamic,timeout
		timeout %[4]s
	}
	set own4 {
		typeof icmp id . meta mark
		size 65536
		flags dynamic,timeout
		timeout %[4]s
	}
	set ids6 {
		typeof icmpv6 id
		size 65536
		flags dynamic,timeout
		timeout %[4]s
	}
	set own6 {
		typeof icmpv6 id . meta mark
		size 65536
		flags dynamic,timeout
		timeout %[4]s
	}
	chain output {
		type filter hook output priority -5; policy accept;
		meta mark & 0xffff0000 == %#[2]x jump raw
	}
	chain raw {
		fib saddr type != local drop
		ip frag-off & 0x3fff != 0 drop
		ip option lsrr exists drop
		ip option ssrr exists drop
		exthdr frag exists drop
		exthdr rt exists drop
		meta l4proto { tcp, udp } meta mark . meta l4proto . th sport @ports goto ok
		icmp type { echo-request, echo-reply } goto id4
		icmpv6 type { echo-request, echo-reply } goto id6
		drop
	}
	chain id4 {
		icmp id . meta mark @own4 update @own4 { icmp id . meta mark } update @ids4 { icmp id } goto ok
		icmp id @ids4 drop
		add @ids4 { icmp id } add @own4 { icmp id . meta mark } goto ok
		drop
	}
	chain id6 {
		icmpv6 id . meta mark @own6 update @own6 { icmpv6 id . meta mark } update @ids6 { icmpv6 id } goto ok
		icmpv6 id @ids6 drop
		add @ids6 { icmpv6 id } add @own6 { icmpv6 id . meta mark } goto ok
		drop
	}
	chain ok {
		ct mark set meta mark & 0xffff | %#[3]x
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
	fmt.Fprintf(&b, ruleset, t.name, rawMarkBase, netfilter.SocketMark(0), idTimeout)
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
