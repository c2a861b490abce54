// Package netfilter tags every packet a sliver sends or receives with its
// slice, in one nftables table of the node's network namespace (inet family:
// IPv4 and IPv6), so that shaping, accounting and auditing agree on whose
// packet it is.
//
// The tagging scheme (paper section 4.2.2: "packets sent by a vserver are
// tagged in the kernel and subsequently classified"):
//
//   - Output: a packet whose socket belongs to a UID in the sliver's host
//     range (meta skuid) jumps to the sliver's chain. So does a packet of a
//     connection whose conntrack mark is the sliver's Index: that catches
//     the packets the kernel makes on a sliver's behalf and that carry no
//     socket UID (RSTs and ACKs of time-wait sockets, retransmits of
//     request sockets after the first reply).
//   - The sliver's chain sets the conntrack mark to Index (so replies are
//     attributed on input), counts the packet in the named counter
//     "tx_<name>", and sets skb->priority to the sliver's HTB class,
//     1:(Index+ClassOffset), or to its low-rate class for ICMP echo
//     requests and packets with IP options (IPv4 header longer than 20
//     bytes, or an IPv6 hop-by-hop header). The HTB qdisc on the uplink
//     classifies by skb->priority directly, since the tc cgroup and fw
//     classifiers are missing on this kernel (MECHANISMS.md).
//   - Input: a packet whose connection carries the sliver's conntrack mark
//     is counted in "rx_<name>".
//
// Why UIDs and not cgroups: every process of a sliver runs in its host UID
// range, whatever cgroup it moved to, and the UID of a socket is fixed when
// it is created, so a socket handed to another process keeps its owner.
// google/nftables loads skuid in host byte order; the rules convert it to
// network order (byteorder hton) and compare against big-endian bounds, as
// the nft command line does, since a plain range on the host-endian value
// matches nothing.
//
// What is not attributed: the first packet a remote host sends to a
// sliver's listening socket (its connection has no mark until the sliver
// answers), and a TCP SYN-ACK from a listener (it leaves from a request
// socket, which has no UID). The table owns the whole conntrack mark.
package netfilter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/orbisproject/orbis/api"
)

// DefaultTable is the table's name on a node.
const DefaultTable = "orbis"

// ClassOffset is added to a sliver's Index to make the minor number of its
// HTB class, 1:(Index+ClassOffset); minors below it are the node's own
// (1:1 root, 1:2 traffic of no sliver).
const ClassOffset = 0x10

// LowClassBit is set in the minor of a sliver's low-rate class (ICMP echo
// and IP options): 1:(Index+ClassOffset)|LowClassBit.
const LowClassBit = 0x8000

// MaxIndex is the largest sliver Index that fits both classes in HTB's
// 16-bit minor numbers.
const MaxIndex = LowClassBit - ClassOffset - 1

// Sliver is one sliver's network identity and rspec: the whole desired
// state of its tagging. Shaping uses the same type.
type Sliver struct {
	Name              string     // slice name
	UIDBase, UIDCount uint32     // host UID range
	Cgroup            string     // absolute path of its cgroup v2 directory (unused here)
	Index             uint32     // small unique per-node number, 1..MaxIndex
	MinRate, MaxRate  int64      // kbit/s (defaults applied by the caller)
	Ports             []api.Port // reserved ports (unused here)
	// DailyMaxKB and DailyThreshKB are PlanetLab's net_max_kbyte and
	// net_thresh_kbyte (0 = none).
	DailyMaxKB, DailyThreshKB int64
}

// Validate reports what makes s unusable for tagging.
func (s Sliver) Validate() error {
	switch {
	case s.Name == "" || len(s.Name) > 200 || strings.ContainsAny(s.Name, "\x00/ "):
		return fmt.Errorf("sliver name %q: empty, too long or with a space, slash or NUL", s.Name)
	case s.Index == 0 || s.Index > MaxIndex:
		return fmt.Errorf("sliver %s: index %d outside 1..%d", s.Name, s.Index, MaxIndex)
	case s.UIDCount == 0 || s.UIDBase == 0 || uint64(s.UIDBase)+uint64(s.UIDCount) > 1<<32:
		return fmt.Errorf("sliver %s: bad UID range %d+%d", s.Name, s.UIDBase, s.UIDCount)
	}
	return nil
}

// Priority is the skb->priority (a tc handle) that sends a sliver's packets
// to its HTB class.
func Priority(index uint32) uint32 { return 1<<16 | (index + ClassOffset) }

// LowPriority is the skb->priority of a sliver's low-rate class.
func LowPriority(index uint32) uint32 { return Priority(index) | LowClassBit }

// Counters are one sliver's packet and byte counts since its tagging was
// first set (they survive later Set calls).
type Counters struct {
	TxBytes, RxBytes     uint64
	TxPackets, RxPackets uint64
}

// Interface is what the rest of the node uses; Tagger is the kernel one and
// Fake an in-memory one for other packages' tests.
type Interface interface {
	Set(ctx context.Context, s Sliver) error
	Remove(ctx context.Context, name string) error
	Counters(ctx context.Context) (map[string]Counters, error)
	Close() error
}

// Config says where the table lives.
type Config struct {
	// Table is the table's name; DefaultTable if empty. Tests use a unique one.
	Table string
	// NetNS is the path of the network namespace to work in (for example
	// /run/netns/NAME); empty means the caller's.
	NetNS string
	Log   *slog.Logger
}

// Tagger keeps the table. Its methods are safe for concurrent use.
type Tagger struct {
	log   *slog.Logger
	table *nftables.Table
	nsfd  *os.File // open network namespace, or nil

	// mu guards the following.
	mu   sync.Mutex
	conn *nftables.Conn
}

var _ Interface = (*Tagger)(nil)

// New creates the table and its base chains if they are missing, keeping
// any slivers' chains and counters already there (an agent restart must not
// reset byte counts).
func New(cfg Config) (_ *Tagger, err error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := &Tagger{log: cfg.Log.With("table", cfg.Table), table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet}}
	var opts []nftables.ConnOption
	if cfg.NetNS != "" {
		if t.nsfd, err = os.Open(cfg.NetNS); err != nil {
			return nil, fmt.Errorf("open network namespace: %w", err)
		}
		opts = append(opts, nftables.WithNetNSFd(int(t.nsfd.Fd())))
	}
	defer func() {
		if err != nil && t.nsfd != nil {
			t.nsfd.Close()
		}
	}()
	if t.conn, err = nftables.New(opts...); err != nil {
		return nil, fmt.Errorf("nftables connection: %w", err)
	}
	addBase(t.conn, t.table)
	if err := t.conn.Flush(); err != nil {
		return nil, fmt.Errorf("create table %s: %w", cfg.Table, err)
	}
	return t, nil
}

// Set tags s's packets as described in the package comment. It is
// idempotent, replaces whatever rules s had, and keeps its counters.
func (t *Tagger) Set(ctx context.Context, s Sliver) error {
	if err := s.Validate(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dropDispatchLocked(s.Name); err != nil {
		return err
	}
	addSliver(t.conn, t.table, s)
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("tag sliver %s: %w", s.Name, err)
	}
	t.log.Debug("tagging set", "slice", s.Name, "index", s.Index, "uids", fmt.Sprintf("%d+%d", s.UIDBase, s.UIDCount))
	return nil
}

// Remove deletes name's rules, chain and counters; removing a sliver that
// has none is not an error.
func (t *Tagger) Remove(ctx context.Context, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dropDispatchLocked(name); err != nil {
		return err
	}
	chains, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("list chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name == t.table.Name && c.Name == sliverChain(name) {
			t.conn.FlushChain(c)
			t.conn.DelChain(c)
		}
	}
	objs, err := t.conn.GetObjects(t.table)
	if err != nil {
		return fmt.Errorf("list counters: %w", err)
	}
	for _, o := range objs {
		if c, ok := o.(*nftables.CounterObj); ok && (c.Name == "tx_"+name || c.Name == "rx_"+name) {
			t.conn.DeleteObject(&nftables.CounterObj{Table: t.table, Name: c.Name})
		}
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("untag sliver %s: %w", name, err)
	}
	return nil
}

// dropDispatchLocked queues the deletion of the rules that send packets to
// name's chain (found by their user data), so that Set can replace them in
// the same transaction.
func (t *Tagger) dropDispatchLocked(name string) error {
	for _, chain := range []string{chainByUID, chainByMark, chainInput} {
		c := &nftables.Chain{Name: chain, Table: t.table}
		rules, err := t.conn.GetRules(t.table, c)
		if err != nil {
			return fmt.Errorf("list rules of %s: %w", chain, err)
		}
		for _, r := range rules {
			if string(r.UserData) == userData(name) {
				if err := t.conn.DelRule(r); err != nil {
					return fmt.Errorf("delete rule: %w", err)
				}
			}
		}
	}
	return nil
}

// Counters returns each tagged sliver's counts, by slice name.
func (t *Tagger) Counters(ctx context.Context) (map[string]Counters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	objs, err := t.conn.GetObjects(t.table)
	if err != nil {
		return nil, fmt.Errorf("read counters: %w", err)
	}
	out := map[string]Counters{}
	for _, o := range objs {
		c, ok := o.(*nftables.CounterObj)
		if !ok {
			continue
		}
		if name, ok := strings.CutPrefix(c.Name, "tx_"); ok {
			v := out[name]
			v.TxBytes, v.TxPackets = c.Bytes, c.Packets
			out[name] = v
		} else if name, ok := strings.CutPrefix(c.Name, "rx_"); ok {
			v := out[name]
			v.RxBytes, v.RxPackets = c.Bytes, c.Packets
			out[name] = v
		}
	}
	return out, nil
}

// Dump returns the table's rules as the kernel holds them, in the form of
// `nft --debug=netlink` (expressions the netlink library cannot decode, such
// as byteorder, are missing).
func (t *Tagger) Dump(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	chains, err := t.conn.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return "", fmt.Errorf("list chains: %w", err)
	}
	var names []string
	for _, c := range chains {
		if n, ok := strings.CutPrefix(c.Name, "sl_"); ok && c.Table.Name == t.table.Name {
			names = append(names, n)
		}
	}
	var b strings.Builder
	for _, chain := range chainOrder(names) {
		rules, err := t.conn.GetRules(t.table, &nftables.Chain{Name: chain, Table: t.table})
		if err != nil {
			return "", fmt.Errorf("list rules of %s: %w", chain, err)
		}
		writeRules(&b, t.table.Name, chain, rules)
	}
	return b.String(), nil
}

// Close deletes the table, and with it every sliver's tagging and counters.
func (t *Tagger) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn.DelTable(t.table)
	err := t.conn.Flush()
	if t.nsfd != nil {
		t.nsfd.Close()
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete table %s: %w", t.table.Name, err)
	}
	return nil
}
