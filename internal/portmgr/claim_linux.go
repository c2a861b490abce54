package portmgr

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/orbisproject/orbis/api"
)

// claim is a port claimed for an owner's safe raw or sniffer sockets.
type claim struct {
	owner string
	// revokers are the live claims on it (one per socket), by the number
	// Claim gave each, with what ends each claim's socket (Revoke).
	revokers  map[uint64]Revoke
	ephemeral bool // its port number is ours in ip_local_reserved_ports
}

// Claim holds p for owner's safe raw or sniffer socket
// (internal/rawsock) until the returned release is called: from now on
// the bind programs refuse (EPERM) every bind of p by a task outside
// owner's cgroup, as for a reservation, and if p is inside the ephemeral
// range (ip_local_port_range) its number is listed in
// ip_local_reserved_ports, so the kernel does not hand it to anyone's
// connect or send either (for TCP and UDP alike: the list has no
// protocol). A socket already bound to p keeps it: the caller checks
// who holds p after claiming it. A claim does not make p the owner's
// (Holders does not count it), and no claim outlives the Manager: Close
// and Detach drop them all, and New drops those a crashed process left
// pinned.
//
// Claims of one owner on one port nest (one per socket); a port another
// owner reserved or claimed is a *NotHeldError. The owner must have been
// given its cgroup by Reserve (with any ports, none included).
//
// A claim gives way to a reservation: when Reserve reserves p for
// another owner, it takes the claim back and calls revoke (never nil)
// before it returns; the release is then a no-op.
func (m *Manager) Claim(owner string, p api.Port, revoke Revoke) (release func(), err error) {
	if revoke == nil {
		return nil, errors.New("claim port: no revoke")
	}
	k, err := key(p)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("claim port: port manager closed")
	}
	c, err := m.claimLocked(owner, k)
	if err != nil {
		return nil, fmt.Errorf("claim %d/%s for %s: %w", p.Port, p.Proto, owner, err)
	}
	m.lastClaim++
	id := m.lastClaim
	c.revokers[id] = revoke
	var once sync.Once
	return func() { once.Do(func() { m.unclaim(k, c, id) }) }, nil
}

// claimLocked returns owner's claim on k, made if there is none yet.
func (m *Manager) claimLocked(owner string, k uint32) (*claim, error) {
	p := portOf(k)
	if c := m.claimed[k]; c != nil {
		if c.owner != owner {
			return nil, notHeld("%s port %d is held by a raw socket of another slice", p.Proto, p.Port)
		}
		return c, nil
	}
	v, ok := m.owners[owner]
	if !ok {
		return nil, fmt.Errorf("slice %s has no cgroup known to the port manager", owner)
	}
	var cur value
	if err := m.ports.Lookup(k, &cur); err == nil && cur.owner() != owner {
		return nil, notHeld("%s port %d is reserved for another slice", p.Proto, p.Port)
	}
	c := &claim{owner: owner, revokers: map[uint64]Revoke{}}
	if err := m.listEphemeralLocked(c, p.Port); err != nil {
		return nil, err
	}
	cv := claimValue{Owner: v}
	if c.ephemeral {
		cv.Ephemeral = 1
	}
	if err := m.claims.Update(k, cv, ebpf.UpdateAny); err != nil {
		m.unlistEphemeralLocked(c, p.Port)
		return nil, fmt.Errorf("update claims map: %w", err)
	}
	m.claimed[k] = c
	m.cfg.Log.Info("port claimed", "slice", owner, "proto", p.Proto, "port", p.Port, "ephemeral", c.ephemeral)
	return c, nil
}

// listEphemeralLocked lists port in ip_local_reserved_ports for c when
// it is in the ephemeral range and not listed yet; a port number TCP and
// UDP claims share is listed once and taken out with the last of them.
func (m *Manager) listEphemeralLocked(c *claim, port uint16) error {
	if n := m.ephemeral[port]; n > 0 {
		m.ephemeral[port], c.ephemeral = n+1, true
		return nil
	}
	lo, hi, err := ephemeralRange(m.cfg.ProcRoot)
	if err != nil {
		return err
	}
	if port < lo || port > hi {
		return nil
	}
	added, err := addLocalReserved(m.cfg.LocalReservedPorts, port)
	if err != nil {
		return err
	}
	if added {
		m.ephemeral[port], c.ephemeral = 1, true
	}
	return nil
}

func (m *Manager) unlistEphemeralLocked(c *claim, port uint16) {
	if !c.ephemeral {
		return
	}
	if m.ephemeral[port]--; m.ephemeral[port] > 0 {
		return
	}
	delete(m.ephemeral, port)
	if err := RemoveLocalReserved(m.cfg.LocalReservedPorts, port); err != nil {
		m.cfg.Log.Warn("take a claimed port out of ip_local_reserved_ports", "port", port, "err", err)
	}
}

// unclaim undoes the Claim numbered id of k on c.
func (m *Manager) unclaim(k uint32, c *claim, id uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claimed[k] != c || m.closed { // revoked, or dropped by Close
		return
	}
	if delete(c.revokers, id); len(c.revokers) > 0 {
		return
	}
	m.dropClaimLocked(k, c)
	m.cfg.Log.Info("port unclaimed", "slice", c.owner, "proto", portOf(k).Proto, "port", portOf(k).Port)
}

// dropClaimLocked takes c, the claim on k, out of the kernel and the
// Manager.
func (m *Manager) dropClaimLocked(k uint32, c *claim) {
	p := portOf(k)
	if err := m.claims.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		m.cfg.Log.Warn("delete from claims map", "proto", p.Proto, "port", p.Port, "err", err)
	}
	m.unlistEphemeralLocked(c, p.Port)
	delete(m.claimed, k)
}

// revokeLocked takes back the claims of other owners than owner on the
// ports of want, after want is in the reservations map, and returns what
// ends their sockets, for the caller to call once it has unlocked.
func (m *Manager) revokeLocked(owner string, want map[uint32]value) []func() {
	var ends []func()
	for _, k := range sortedKeys(want) {
		c := m.claimed[k]
		if c == nil || c.owner == owner {
			continue
		}
		p := portOf(k)
		m.dropClaimLocked(k, c)
		reason := fmt.Sprintf("%s port %d is now reserved for slice %s by the node manager: the raw socket of slice %s on it is closed",
			p.Proto, p.Port, owner, c.owner)
		m.cfg.Log.Warn("port claim revoked by a reservation", "slice", c.owner, "proto", p.Proto, "port", p.Port, "reserved_for", owner)
		for _, id := range slices.Sorted(maps.Keys(c.revokers)) {
			revoke := c.revokers[id]
			ends = append(ends, func() { revoke(reason) })
		}
	}
	return ends
}

// dropClaimsLocked deletes every entry of the claims map, taking the
// port numbers of those that listed theirs out of
// ip_local_reserved_ports: at start, a crashed process's claims; at
// close, this one's.
func (m *Manager) dropClaimsLocked() error {
	have, err := readAll[claimValue](m.claims, "claims")
	if err != nil {
		return err
	}
	var listed []uint16
	var errs []error
	for _, k := range sortedKeys(have) {
		if have[k].Ephemeral != 0 {
			listed = append(listed, portOf(k).Port)
		}
		if err := m.claims.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, fmt.Errorf("delete from claims map: %w", err))
		}
	}
	errs = append(errs, RemoveLocalReserved(m.cfg.LocalReservedPorts, listed...))
	clear(m.claimed)
	clear(m.ephemeral)
	if len(have) > 0 {
		m.cfg.Log.Info("port claims dropped", "claims", len(have))
	}
	return errors.Join(errs...)
}
