package portmgr

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/orbisproject/orbis/api"
)

// readMap reads every reservation.
func readMap(m *ebpf.Map) (map[uint32]value, error) {
	out := map[uint32]value{}
	var k uint32
	var v value
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read reservations map: %w", err)
	}
	return out, nil
}

func sortedKeys[V any](m map[uint32]V) []uint32 {
	ks := make([]uint32, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, cmp.Compare)
	return ks
}

// list is the reservations in ports (if not nil) and the bound sockets.
func list(ports *ebpf.Map, procRoot string, resolve func(uint32) (string, bool)) ([]Entry, error) {
	var out []Entry
	if ports != nil {
		have, err := readMap(ports)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(have) {
			p := portOf(k)
			out = append(out, Entry{Proto: p.Proto, Port: p.Port, Owner: have[k].owner(), Kind: Reserved})
		}
	}
	bound, err := boundSockets(procRoot, resolve)
	if err != nil {
		return nil, err
	}
	out = append(out, bound...)
	sortEntries(out)
	return out, nil
}

// Table prints List as an aligned table (`orbis nm ports`).
func (m *Manager) Table(w io.Writer) error {
	es, err := m.List()
	if err != nil {
		return err
	}
	return WriteTable(w, es)
}

// ErrNotPinned is returned by Snapshot when no reservations map is
// pinned: no port manager has run since the node booted (or it pins
// nothing).
var ErrNotPinned = errors.New("no pinned reservations map")

// Snapshot is List without a Manager, for a command run beside the node
// agent: it reads the reservations map pinned in pinDir, read-only, and
// the socket tables under procRoot. Without a pinned map it returns the
// bound entries and an error wrapping ErrNotPinned.
func Snapshot(pinDir, procRoot string, resolve func(uint32) (string, bool)) ([]Entry, error) {
	ports, err := openPinnedMap(filepath.Join(pinDir, mapName), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	var missing error
	if ports == nil {
		missing = fmt.Errorf("%s: %w", pinDir, ErrNotPinned)
	} else {
		defer ports.Close()
	}
	es, err := list(ports, procRoot, resolve)
	if err != nil {
		return nil, err
	}
	return es, missing
}

// Holders reads who holds which port now: the socket tables under
// Config.ProcRoot and this Manager's reservations.
func (m *Manager) Holders() (*Holders, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("port holders: port manager closed")
	}
	have, err := readMap(m.ports)
	if err != nil {
		return nil, err
	}
	reserved := map[api.Port]string{}
	for k, v := range have {
		reserved[portOf(k)] = v.owner()
	}
	return ReadHolders(m.cfg.ProcRoot, m.cfg.Resolve, reserved)
}
