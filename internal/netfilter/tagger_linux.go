package netfilter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
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
	// slivers holds what the maps hold for each sliver that has chains:
	// its UID range (UIDCount 0: no element in byuid) and Index (0: none in
	// the mark maps). Set and Remove change elements from it, without
	// reading the kernel's tables.
	slivers map[string]Sliver
	// byIndex is the name of the sliver holding each Index.
	byIndex map[uint32]string
}

var _ Interface = (*Tagger)(nil)

// New creates the table, its maps and base chains if they are missing,
// keeping any slivers' chains, map elements and counters already there (an
// agent restart must not reset byte counts); it reads them once, so that
// later calls change the kernel's state without reading it.
func New(cfg Config) (_ *Tagger, err error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := &Tagger{log: cfg.Log.With("table", cfg.Table), group: cfg.LogGroup,
		slivers: map[string]Sliver{}, byIndex: map[uint32]string{},
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
	if err := t.restore(); err != nil {
		return nil, fmt.Errorf("table %s: %w", cfg.Table, err)
	}
	return t, nil
}

// Set tags s's packets as described in the package comment. It is
// idempotent, replaces whatever rules s had, and keeps its counters. It
// refuses an Index or UIDs another sliver holds.
func (t *Tagger) Set(ctx context.Context, s Sliver) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if t.group != 0 && len(s.Name) > MaxLogPrefix {
		return fmt.Errorf("sliver %s: name longer than %d bytes cannot be a log prefix", s.Name, MaxLogPrefix)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.conflictLocked(s); err != nil {
		return err
	}
	old, had := t.slivers[s.Name]
	addChains(t.conn, t.table, s, t.group)
	add := sliverElements(s)
	changed := slices.Collect(maps.Keys(add))
	if had {
		changed = changedElements(old, s)
		t.delElementsLocked(old, changed)
	}
	for _, m := range changed {
		if err := t.conn.SetAddElements(t.set(m), add[m]); err != nil {
			return fmt.Errorf("tag sliver %s: %w", s.Name, err)
		}
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("tag sliver %s: %w", s.Name, err)
	}
	delete(t.byIndex, old.Index)
	t.slivers[s.Name], t.byIndex[s.Index] = s, s.Name
	t.log.Debug("tagging set", "slice", s.Name, "index", s.Index, "uids", fmt.Sprintf("%d+%d", s.UIDBase, s.UIDCount))
	return nil
}

// conflictLocked reports another sliver that holds s's Index or some of
// its UIDs: the kernel would refuse the elements, or take the packets of
// one for the other's.
func (t *Tagger) conflictLocked(s Sliver) error {
	if o, ok := t.byIndex[s.Index]; ok && o != s.Name {
		return fmt.Errorf("sliver %s: index %d is sliver %s's", s.Name, s.Index, o)
	}
	end := uint64(s.UIDBase) + uint64(s.UIDCount)
	for name, o := range t.slivers {
		if name != s.Name && o.UIDCount != 0 && uint64(o.UIDBase) < end && uint64(s.UIDBase) < uint64(o.UIDBase)+uint64(o.UIDCount) {
			return fmt.Errorf("sliver %s: UIDs %d+%d overlap sliver %s's %d+%d", s.Name, s.UIDBase, s.UIDCount, name, o.UIDBase, o.UIDCount)
		}
	}
	return nil
}

// delElementsLocked queues the deletion of old's elements in the maps
// named, those the kernel holds.
func (t *Tagger) delElementsLocked(old Sliver, names []string) {
	els := sliverElements(old)
	for _, m := range names {
		if (m == mapByUID && old.UIDCount == 0) || (m != mapByUID && old.Index == 0) {
			continue
		}
		// Only a marshalling error is possible, and these elements
		// marshalled when they were added.
		_ = t.conn.SetDeleteElements(t.set(m), els[m])
	}
}

// set names one of the table's maps for element changes.
func (t *Tagger) set(name string) *nftables.Set {
	return &nftables.Set{Table: t.table, Name: name, IsMap: true, Interval: name == mapByUID}
}

// Remove deletes name's map elements, chains and counters; removing a
// sliver that has none is not an error.
func (t *Tagger) Remove(ctx context.Context, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.slivers[name]
	if !ok {
		return nil
	}
	t.delElementsLocked(old, []string{mapByUID, mapBySocket, mapByMark, mapRx})
	delChains(t.conn, t.table, name)
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("untag sliver %s: %w", name, err)
	}
	delete(t.slivers, name)
	if t.byIndex[old.Index] == name {
		delete(t.byIndex, old.Index)
	}
	return nil
}

// SocketMark returns the SO_MARK that makes the sliver name's chain take
// a socket's packets (see the package comment), or false if name is not
// tagged.
func (t *Tagger) SocketMark(name string) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.slivers[name]
	return SocketMark(s.Index), ok && s.Index != 0
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
