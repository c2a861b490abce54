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
)

// Config says where the table lives.
type Config struct {
	// Table is the table's name; DefaultTable if empty. Tests use a unique one.
	Table string
	// NetNS is the path of the network namespace to work in (for example
	// /run/netns/NAME); empty means the caller's.
	NetNS string
	Log   *slog.Logger
	// LogGroup, when not 0, logs every outgoing packet of the node to
	// this NFLOG group (the administrative sniffer stream,
	// internal/sniff): a sliver's from its chain with its slice name as
	// the log prefix, so attributed exactly as tagged, and the packets of
	// no sliver without a prefix. Slice names must then be at most
	// MaxLogPrefix bytes.
	LogGroup uint16
}

// LogSnap is how many bytes of each packet the log keeps: the IP and
// transport headers.
const LogSnap = 128

// MaxLogPrefix is the longest log prefix the kernel keeps (NF_LOG_PREFIXLEN
// less its NUL).
const MaxLogPrefix = 127

// Tagger keeps the table. Its methods are safe for concurrent use.
type Tagger struct {
	log   *slog.Logger
	table *nftables.Table
	group uint16   // NFLOG group, or 0
	nsfd  *os.File // open network namespace, or nil

	// mu guards the following.
	mu   sync.Mutex
	conn *nftables.Conn
	// index holds the Index of each sliver set by this Tagger.
	index map[string]uint32
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
	t := &Tagger{log: cfg.Log.With("table", cfg.Table), group: cfg.LogGroup, index: map[string]uint32{},
		table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet}}
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
	addBase(t.conn, t.table, t.group)
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
	if t.group != 0 && len(s.Name) > MaxLogPrefix {
		return fmt.Errorf("sliver %s: name longer than %d bytes cannot be a log prefix", s.Name, MaxLogPrefix)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.dropDispatchLocked(s.Name); err != nil {
		return err
	}
	addSliver(t.conn, t.table, s, t.group)
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("tag sliver %s: %w", s.Name, err)
	}
	t.index[s.Name] = s.Index
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
	delete(t.index, name) // no longer attributed, even if the rest fails
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

// SocketMark returns the SO_MARK that makes the sliver name's chain take
// a socket's packets (see the package comment), or false if name is not
// tagged.
func (t *Tagger) SocketMark(name string) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.index[name]
	return SocketMark(i), ok
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
