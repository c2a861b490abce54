package portmgr

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"github.com/orbisproject/orbis/api"
)

// countLocked puts owner's sliver, in the cgroup of id cgroupID, under
// the socket quota: an entry already there (the same sliver, reserved
// again or left pinned by the agent's previous run) keeps its count; the
// owner's entries for other cgroups (a sliver made again) are removed.
func (m *Manager) countLocked(owner string, cgroupID uint64) error {
	v, err := newSliverValue(owner)
	if err != nil {
		return err
	}
	if err := m.uncountLocked(owner, cgroupID); err != nil {
		return err
	}
	err = m.slivers.Update(cgroupID, v, ebpf.UpdateNoExist)
	if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
		return fmt.Errorf("update slivers map: %w", err)
	}
	return nil
}

// uncountLocked removes owner's entries from the slivers map but the one
// of cgroup keep (0: none kept).
func (m *Manager) uncountLocked(owner string, keep uint64) error {
	var (
		k     uint64
		v     sliverValue
		stale []uint64
	)
	it := m.slivers.Iterate()
	for it.Next(&k, &v) {
		if k != keep && v.owner() == owner {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read slivers map: %w", err)
	}
	for _, k := range stale {
		if err := m.slivers.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("delete from slivers map: %w", err)
		}
	}
	return nil
}

// Sockets is how many sockets owner's sliver holds against its quota
// (Config.MaxSockets); an owner Reserve was not told of has none.
func (m *Manager) Sockets(owner string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errors.New("sockets: port manager closed")
	}
	v, ok := m.owners[owner]
	if !ok {
		return 0, nil
	}
	var sv sliverValue
	if err := m.slivers.Lookup(v.CgroupID, &sv); err != nil {
		return 0, fmt.Errorf("sockets of %s: %w", owner, err)
	}
	return int(sv.Sockets), nil
}

// ReserveNode makes ports the node's own, on every address: the bind
// programs refuse them to every task in a sliver, whatever address it
// binds, and let every other task bind them (the node agent's services
// listen on them, often on one address only). Those inside the
// ephemeral range are also listed in ip_local_reserved_ports, so that
// the kernel does not hand them to a sliver's bind to port 0 either;
// they stay listed while the agent restarts (Close), and Detach takes
// out those this Manager listed. A port reserved for a slice is an
// error, and nothing changes.
func (m *Manager) ReserveNode(ports []api.Port) error {
	lo, hi, err := ephemeralRange(m.cfg.ProcRoot)
	if err != nil {
		return err
	}
	v, err := newValue(nodeOwner, 0, 0)
	if err != nil {
		return err
	}
	want := map[uint32]value{}
	for _, p := range ports {
		k, err := key(p)
		if err != nil {
			return fmt.Errorf("reserve the node's ports: %w", err)
		}
		want[k] = v
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("reserve the node's ports: port manager closed")
	}
	if err := m.setLocked(nodeOwner, want); err != nil {
		return fmt.Errorf("reserve the node's ports: %w", err)
	}
	for k := range want {
		if p := portOf(k); p.Port >= lo && p.Port <= hi {
			added, err := addLocalReserved(m.cfg.LocalReservedPorts, p.Port)
			if err != nil {
				return fmt.Errorf("reserve the node's port %d/%s: %w", p.Port, p.Proto, err)
			}
			if added {
				m.nodeListed = append(m.nodeListed, p.Port)
			}
		}
	}
	m.cfg.Log.Info("node's ports reserved", "ports", ports)
	return nil
}
