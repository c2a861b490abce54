package netfilter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"reflect"
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
	// internal/sniff): a sliver's with its SocketMark as the packet's
	// mark, which SliceOfMark turns into its slice, so attributed exactly
	// as tagged, and the packets of no sliver with their own mark.
	LogGroup uint16
}

// LogSnap is how many bytes of each packet the log keeps: the IP and
// transport headers.
const LogSnap = 128

// Tagger keeps the table. Its methods are safe for concurrent use.
type Tagger struct {
	log   *slog.Logger
	table *nftables.Table
	group uint16   // NFLOG group, or 0
	nsfd  *os.File // open network namespace, or nil

	// mu guards the following.
	mu   sync.Mutex
	conn *nftables.Conn
	// slivers holds, for each tagged sliver, what its elements were made
	// from (name, UID range, Index), so that Set and Remove change
	// elements without reading the kernel's sets.
	slivers map[string]Sliver
	// byIndex is the name of the sliver holding each Index. It is
	// written with both mu and namesMu held, so holding either is enough
	// to read it.
	byIndex map[uint32]string
	// parts holds the UID parts that have a chain and map.
	parts map[string]bool

	// namesMu guards byIndex for SliceOfMark, which the sniffer calls for
	// every packet and must not wait for a change or a read of the
	// kernel's sets.
	namesMu sync.RWMutex
}

var _ Interface = (*Tagger)(nil)

// New creates the table, its sets and chains if they are missing, keeping
// the slivers' elements and so their counters (an agent restart must not
// reset byte counts); it reads them once, so that later calls change the
// kernel's state without reading it. A table of the older layout (a rule
// and a chain per sliver) is deleted first: its slivers are tagged again,
// from zero counts, when next Set.
func New(cfg Config) (_ *Tagger, err error) {
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := &Tagger{log: cfg.Log.With("table", cfg.Table), group: cfg.LogGroup,
		slivers: map[string]Sliver{}, byIndex: map[uint32]string{}, parts: map[string]bool{},
		table: &nftables.Table{Name: cfg.Table, Family: nftables.TableFamilyINet}}
	opts := []nftables.ConnOption{nftables.AsLasting()}
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
		t.conn.CloseLasting()
		return nil, fmt.Errorf("table %s: %w", cfg.Table, err)
	}
	return t, nil
}

// Set tags s's packets as described in the package comment. It is
// idempotent, replaces whatever elements s had, and keeps its counters
// unless its Index changes. It refuses an Index or UIDs another sliver
// holds.
func (t *Tagger) Set(ctx context.Context, s Sliver) error {
	if err := s.Validate(); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.indexTakenLocked(s); err != nil {
		return err
	}
	old := t.slivers[s.Name]
	add, del := changes(old, s)
	parts, err := t.queuePartsLocked(add)
	if err == nil {
		err = t.queueElementsLocked(del, false)
	}
	if err == nil {
		err = t.queueElementsLocked(add, true)
	}
	if err != nil {
		return fmt.Errorf("tag sliver %s: %w", s.Name, err)
	}
	if err := t.conn.Flush(); err != nil {
		if oerr := t.overlapLocked(s); oerr != nil {
			return oerr
		}
		return fmt.Errorf("tag sliver %s: %w", s.Name, err)
	}
	for _, p := range parts {
		t.parts[p] = true
	}
	t.namesMu.Lock()
	delete(t.byIndex, old.Index)
	t.slivers[s.Name], t.byIndex[s.Index] = s, s.Name
	t.namesMu.Unlock()
	t.log.Debug("tagging set", "slice", s.Name, "index", s.Index, "uids", fmt.Sprintf("%d+%d", s.UIDBase, s.UIDCount))
	return nil
}

// changes are the elements to add and to delete to turn old's tagging
// (none if old is the zero Sliver) into s's: those of the sets where they
// differ.
func changes(old, s Sliver) (add, del elements) {
	add = sliverElements(s)
	if old.Index == 0 {
		return add, nil
	}
	del = sliverElements(old)
	for name := range del {
		if reflect.DeepEqual(del[name], add[name]) {
			delete(del, name)
			delete(add, name)
		}
	}
	return add, del
}

// queuePartsLocked queues the UID parts that elements need and that do
// not exist yet, and returns them.
func (t *Tagger) queuePartsLocked(els elements) ([]string, error) {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(els)) {
		if strings.HasPrefix(name, uidPartPfx) && !t.parts[name] {
			if err := addUIDPart(t.conn, t.table, name); err != nil {
				return nil, err
			}
			parts = append(parts, name)
		}
	}
	return parts, nil
}

// indexTakenLocked reports another sliver that holds s's Index.
func (t *Tagger) indexTakenLocked(s Sliver) error {
	if o, ok := t.byIndex[s.Index]; ok && o != s.Name {
		return fmt.Errorf("sliver %s: index %d is sliver %s's", s.Name, s.Index, o)
	}
	return nil
}

// overlapLocked names another sliver whose UIDs overlap s's, after the
// kernel refused s's interval: it checks for overlaps itself, so Set does
// not walk every sliver.
func (t *Tagger) overlapLocked(s Sliver) error {
	end := uint64(s.UIDBase) + uint64(s.UIDCount)
	for name, o := range t.slivers {
		if name != s.Name && uint64(o.UIDBase) < end && uint64(s.UIDBase) < uint64(o.UIDBase)+uint64(o.UIDCount) {
			return fmt.Errorf("sliver %s: UIDs %d+%d overlap sliver %s's %d+%d", s.Name, s.UIDBase, s.UIDCount, name, o.UIDBase, o.UIDCount)
		}
	}
	return nil
}

// queueElementsLocked queues the addition or the deletion of elements.
func (t *Tagger) queueElementsLocked(els elements, add bool) error {
	for _, name := range slices.Sorted(maps.Keys(els)) {
		op := t.conn.SetDeleteElements
		if add {
			op = t.conn.SetAddElements
		}
		if err := op(setNamed(t.table, name), els[name]); err != nil {
			return err
		}
	}
	return nil
}

// Remove deletes name's elements, and with them its counters; removing a
// sliver that has none is not an error.
func (t *Tagger) Remove(ctx context.Context, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.slivers[name]
	if !ok {
		return nil
	}
	if err := t.queueElementsLocked(sliverElements(old), false); err != nil {
		return fmt.Errorf("untag sliver %s: %w", name, err)
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("untag sliver %s: %w", name, err)
	}
	delete(t.slivers, name)
	t.namesMu.Lock()
	delete(t.byIndex, old.Index)
	t.namesMu.Unlock()
	return nil
}

// SocketMark returns the SO_MARK that makes the tagger take a socket's
// packets for the sliver name's (see the package comment), or false if
// name is not tagged.
func (t *Tagger) SocketMark(name string) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.slivers[name]
	return SocketMark(s.Index), ok
}

// SliceOfMark returns the slice whose SocketMark is mark, or "": every
// packet of a sliver leaves with that mark, so the administrative sniffer
// (internal/sniff) attributes the packets it logs with this. The name is
// the one of now: a packet logged just before its sliver's removal and
// read after it is the node's (or, if the Index was given again within
// that moment, the new sliver's).
func (t *Tagger) SliceOfMark(mark uint32) string {
	t.namesMu.RLock()
	defer t.namesMu.RUnlock()
	return t.byIndex[markIndex(mark)]
}

// Counters returns each tagged sliver's counts, by slice name.
func (t *Tagger) Counters(ctx context.Context) (map[string]Counters, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]Counters, len(t.slivers))
	for name := range t.slivers {
		out[name] = Counters{}
	}
	for _, set := range []string{setTx, setRx} {
		els, err := t.conn.GetSetElements(setNamed(t.table, set))
		if err != nil {
			return nil, fmt.Errorf("read counters: %w", err)
		}
		for _, e := range els {
			name, ok := t.byIndex[elementIndex(e.Key)]
			if !ok || e.Counter == nil {
				continue
			}
			c := out[name]
			if set == setTx {
				c.TxBytes, c.TxPackets = e.Counter.Bytes, e.Counter.Packets
			} else {
				c.RxBytes, c.RxPackets = e.Counter.Bytes, e.Counter.Packets
			}
			out[name] = c
		}
	}
	return out, nil
}

// elementIndex is the Index whose SocketMark is a set's key, or 0.
func elementIndex(key []byte) uint32 {
	if len(key) != 4 {
		return 0
	}
	return markIndex(binary.NativeEndian.Uint32(key))
}

// Close deletes the table, and with it every sliver's tagging and counters.
func (t *Tagger) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.conn.DelTable(t.table)
	err := t.conn.Flush()
	t.conn.CloseLasting()
	if t.nsfd != nil {
		t.nsfd.Close()
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete table %s: %w", t.table.Name, err)
	}
	return nil
}
