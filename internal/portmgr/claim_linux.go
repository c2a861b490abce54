package portmgr

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/orbisproject/orbis/api"
)

// claim is a port claimed for an owner's safe raw or sniffer sockets.
type claim struct {
	owner     string
	refs      int  // the live claims on it
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
func (m *Manager) Claim(owner string, p api.Port) (release func(), err error) {
	k, err := key(p)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("claim port: port manager closed")
	}
	if err := m.claimLocked(owner, k); err != nil {
		return nil, fmt.Errorf("claim %d/%s for %s: %w", p.Port, p.Proto, owner, err)
	}
	var once sync.Once
	return func() { once.Do(func() { m.unclaim(k) }) }, nil
}

func (m *Manager) claimLocked(owner string, k uint32) error {
	p := portOf(k)
	if c := m.claimed[k]; c != nil {
		if c.owner != owner {
			return notHeld("%s port %d is held by a raw socket of another slice", p.Proto, p.Port)
		}
		c.refs++
		return nil
	}
	v, ok := m.owners[owner]
	if !ok {
		return fmt.Errorf("slice %s has no cgroup known to the port manager", owner)
	}
	var cur value
	if err := m.ports.Lookup(k, &cur); err == nil && cur.owner() != owner {
		return notHeld("%s port %d is reserved for another slice", p.Proto, p.Port)
	}
	c := &claim{owner: owner, refs: 1}
	if err := m.listEphemeralLocked(c, p.Port); err != nil {
		return err
	}
	cv := claimValue{Owner: v}
	if c.ephemeral {
		cv.Ephemeral = 1
	}
	if err := m.claims.Update(k, cv, ebpf.UpdateAny); err != nil {
		m.unlistEphemeralLocked(c, p.Port)
		return fmt.Errorf("update claims map: %w", err)
	}
	m.claimed[k] = c
	m.cfg.Log.Info("port claimed", "slice", owner, "proto", p.Proto, "port", p.Port, "ephemeral", c.ephemeral)
	return nil
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
	if err := removeLocalReserved(m.cfg.LocalReservedPorts, port); err != nil {
		m.cfg.Log.Warn("take a claimed port out of ip_local_reserved_ports", "port", port, "err", err)
	}
}

// unclaim undoes one Claim of k.
func (m *Manager) unclaim(k uint32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.claimed[k]
	if c == nil || m.closed { // Close dropped it
		return
	}
	if c.refs--; c.refs > 0 {
		return
	}
	p := portOf(k)
	if err := m.claims.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		m.cfg.Log.Warn("delete from claims map", "proto", p.Proto, "port", p.Port, "err", err)
	}
	m.unlistEphemeralLocked(c, p.Port)
	delete(m.claimed, k)
	m.cfg.Log.Info("port unclaimed", "slice", c.owner, "proto", p.Proto, "port", p.Port)
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
	errs = append(errs, removeLocalReserved(m.cfg.LocalReservedPorts, listed...))
	clear(m.claimed)
	clear(m.ephemeral)
	if len(have) > 0 {
		m.cfg.Log.Info("port claims dropped", "claims", len(have))
	}
	return errors.Join(errs...)
}
