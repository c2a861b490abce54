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
	return readAll[value](m, "reservations")
}

// readAll reads every entry of a map with values of type V.
func readAll[V any](m *ebpf.Map, what string) (map[uint32]V, error) {
	out := map[uint32]V{}
	var k uint32
	var v V
	it := m.Iterate()
	for it.Next(&k, &v) {
		out[k] = v
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read %s map: %w", what, err)
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

// readClaims reads every claim's owner.
func readClaims(m *ebpf.Map) (map[uint32]value, error) {
	have, err := readAll[claimValue](m, "claims")
	if err != nil {
		return nil, err
	}
	out := map[uint32]value{}
	for k, v := range have {
		out[k] = v.Owner
	}
	return out, nil
}

// list is the reservations in ports and the claims in claims (each if
// not nil) and the bound sockets.
func list(ports, claims *ebpf.Map, procRoot string, resolve func(uint32) (string, bool)) ([]Entry, error) {
	var out []Entry
	for _, src := range []struct {
		m    *ebpf.Map
		read func(*ebpf.Map) (map[uint32]value, error)
		kind Kind
	}{{ports, readMap, Reserved}, {claims, readClaims, Claimed}} {
		if src.m == nil {
			continue
		}
		have, err := src.read(src.m)
		if err != nil {
			return nil, err
		}
		for _, k := range sortedKeys(have) {
			p := portOf(k)
			out = append(out, Entry{Proto: p.Proto, Port: p.Port, Owner: have[k].owner(), Kind: src.kind})
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
// the socket tables under procRoot, and the claims map beside it if
// there is one. Without a pinned reservations map it returns the bound
// entries and an error wrapping ErrNotPinned.
func Snapshot(pinDir, procRoot string, resolve func(uint32) (string, bool)) ([]Entry, error) {
	ro := &ebpf.LoadPinOptions{ReadOnly: true}
	ports, err := openPinnedMap(filepath.Join(pinDir, mapName), mapSpec(), ro)
	if err != nil {
		return nil, err
	}
	var missing error
	if ports == nil {
		missing = fmt.Errorf("%s: %w", pinDir, ErrNotPinned)
	} else {
		defer ports.Close()
	}
	claims, err := openPinnedMap(filepath.Join(pinDir, claimsMapName), claimsMapSpec(), ro)
	if err != nil {
		return nil, err
	}
	if claims != nil {
		defer claims.Close()
	}
	es, err := list(ports, claims, procRoot, resolve)
	if err != nil {
		return nil, err
	}
	return es, missing
}

// boundSockets lists the bound sockets' entries (boundSockets), through
// sock_diag when Config.ProcRoot is /proc.
func (m *Manager) boundSockets() ([]Entry, error) {
	if m.cfg.ProcRoot == defaultProcRoot {
		return boundSocketsNow(m.cfg.Resolve)
	}
	return boundSockets(m.cfg.ProcRoot, m.cfg.Resolve)
}

// Holders reads who holds which port now: the socket tables under
// Config.ProcRoot (through sock_diag when it is /proc: the caller's
// network namespace's, read faster) and this Manager's reservations.
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
	if m.cfg.ProcRoot == defaultProcRoot {
		return ReadHoldersNow(m.cfg.Resolve, reserved)
	}
	return ReadHolders(m.cfg.ProcRoot, m.cfg.Resolve, reserved)
}
