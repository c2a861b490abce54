package rawfd

import (
	"bytes"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/netfilter"
)

// table is the nftables table of the raw sockets (see the package
// comment): installed and removed with nft(8) on the worker's thread, its
// elements changed over netlink.
type table struct {
	name string
	w    *worker
	// owner: ports also go into the owner map (Config.Claim).
	owner bool

	mu sync.Mutex
	// mu guards the following.
	conn *nftables.Conn // lasting, in the worker's network namespace
}

// dial opens the table's netlink connection in the network namespace of
// path (the caller's if empty).
func (t *table) dial(netns string) error {
	opts := []nftables.ConnOption{nftables.AsLasting()}
	if netns != "" {
		fd, err := unix.Open(netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("nftables: open netns %s: %w", netns, err)
		}
		// The connection's socket is made in the namespace at once and
		// stays there.
		defer unix.Close(fd)
		opts = append(opts, nftables.WithNetNSFd(fd))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t.conn = c
	return nil
}

// hangup closes the table's netlink connection.
func (t *table) hangup() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn != nil {
		t.conn.CloseLasting()
		t.conn = nil
	}
}

// pingTimeout is how long an ICMP identifier that an ICMP datagram (ping)
// socket or the node sent an echo request with stays closed to raw
// sockets after its last one: conntrack's ICMP timeout.
const pingTimeout = 30 * time.Second

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
	# mark . protocol . port -> the slice's socket mark: the TCP and UDP
	# ports each slice's raw sockets may send from (the slice holds them
	# alone), and the connection mark their packets give their flows.
	map ports {
		type mark . inet_proto . inet_service : mark
	}
	# protocol . port -> the slice's socket mark: packets to these ports
	# reach that slice's raw sockets.
	map owner {
		type inet_proto . inet_service : mark
	}
	# The addresses of the node: the only sources of raw sockets'
	# packets (see addrs_linux.go).
	set local4 {
		type ipv4_addr
	}
	set local6 {
		type ipv6_addr
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
		meta nfproto ipv4 goto raw4
		meta nfproto ipv6 goto raw6
		drop
	}
	# An IPv4 header with no options that is no fragment passes with
	# one comparison; any other is checked in header4.
	chain raw4 {
		@nh,0,64 & 0x0f00000000003fff != 0x0500000000000000 jump header4
		ip saddr != @local4 drop
		goto ports
	}
	chain header4 {
		ip frag-off & 0x3fff != 0 drop
		ip option lsrr exists drop
		ip option ssrr exists drop
	}
	chain raw6 {
		ip6 nexthdr != { tcp, udp, icmpv6 } jump headers6
		ip6 saddr != @local6 drop
		goto ports
	}
	chain headers6 {
		exthdr frag exists drop
		exthdr rt exists drop
	}
	chain ports {
		ct mark set meta mark . meta l4proto . th sport map @ports accept
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
	fmt.Fprintf(&b, ruleset, t.name, rawMarkBase, netfilter.SocketMark(0), fmt.Sprintf("%ds", int(pingTimeout/time.Second)), ctLabelRaw)
	if err := t.run(b.String()); err != nil {
		return fmt.Errorf("install nft table %s: %w", t.name, err)
	}
	return nil
}

// setPorts changes the elements of mark's slice from have to want, in one
// transaction.
func (t *table) setPorts(mark uint32, have, want map[Port]bool) error {
	var del, add []Port
	for _, p := range sortedPorts(have) {
		if !want[p] {
			del = append(del, p)
		}
	}
	for _, p := range sortedPorts(want) {
		if !have[p] {
			add = append(add, p)
		}
	}
	if len(del)+len(add) == 0 {
		return nil
	}
	return t.change(func(c *nftables.Conn) error {
		sets := []string{"ports"}
		if t.owner {
			sets = append(sets, "owner")
		}
		for _, name := range sets {
			owner := name == "owner"
			if len(del) > 0 {
				if err := c.SetDeleteElements(t.set(name), portElems(mark, del, owner)); err != nil {
					return err
				}
			}
			if len(add) > 0 {
				if err := c.SetAddElements(t.set(name), portElems(mark, add, owner)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// portElems are the elements of ports (mark . protocol . port : the
// slice's socket mark) or, with owner, of owner (protocol . port : the
// same).
func portElems(mark uint32, ps []Port, owner bool) []nftables.SetElement {
	elems := make([]nftables.SetElement, 0, len(ps))
	for _, p := range ps {
		// Each field of a concatenation takes 4 bytes; a mark is in host
		// order, a port in network order.
		key := []byte{p.Proto, 0, 0, 0, byte(p.Port >> 8), byte(p.Port), 0, 0}
		if !owner {
			key = append(binaryutil.NativeEndian.PutUint32(mark), key...)
		}
		elems = append(elems, nftables.SetElement{Key: key, Val: binaryutil.NativeEndian.PutUint32(recvMarkOfRaw(mark))})
	}
	return elems
}

// setSlice adds (or, with !on, removes) the slice of index to the slices
// whose raw sockets may go on with their echo flows.
func (t *table) setSlice(index uint32, on bool) error {
	key := append(binaryutil.NativeEndian.PutUint32(RawMark(index)), binaryutil.NativeEndian.PutUint32(recvMark(index))...)
	elems := []nftables.SetElement{{Key: key}}
	return t.change(func(c *nftables.Conn) error {
		if on {
			return c.SetAddElements(t.set("slices"), elems)
		}
		return c.SetDeleteElements(t.set("slices"), elems)
	})
}

// set is the table's set or map of the name, as netlink names it.
func (t *table) set(name string) *nftables.Set {
	return &nftables.Set{Table: &nftables.Table{Family: nftables.TableFamilyINet, Name: t.name}, Name: name}
}

// change sends what f queues on the table's netlink connection as one
// transaction: no process to start, so a slice changing its ports often
// costs the node little.
func (t *table) change(f func(*nftables.Conn) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := f(t.conn); err != nil {
		return fmt.Errorf("nft table %s: %w", t.name, err)
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("nft table %s: %w", t.name, err)
	}
	return nil
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
