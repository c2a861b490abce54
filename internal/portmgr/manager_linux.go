package portmgr

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orbisproject/orbis/api"
)

// rootCgroupID is the id of a cgroup v2 hierarchy's root.
const rootCgroupID = 1

// Manager owns the bind programs and the reservations map.
type Manager struct {
	cfg      Config
	rootID   uint64 // cgroup id of cfg.CgroupRoot
	attachID uint64 // cgroup id of cfg.AttachAt
	noCap    bool   // owners may bind reserved low ports without privilege

	// mu guards the following.
	mu     sync.Mutex
	ports  *ebpf.Map
	claims *ebpf.Map
	// slivers and socks are the socket quota's maps (see sockets.go).
	slivers *ebpf.Map
	socks   *ebpf.Map
	progs   []*ebpf.Program
	links   []link.Link
	closed  bool
	// owners are the owners Reserve was told of, with their cgroups.
	owners map[string]value
	// claimed are the live claims (Claim) by key; ephemeral counts the
	// claims whose port number they listed in ip_local_reserved_ports.
	claimed   map[uint32]*claim
	ephemeral map[uint16]int
	lastClaim uint64 // the number of the last Claim
	// nodeListed are the node's ports ReserveNode listed in
	// ip_local_reserved_ports (not listed before): Detach takes them out.
	nodeListed []uint16
}

// New loads the bind programs and attaches them at cfg.CgroupRoot. When
// a previous Manager left them pinned in cfg.PinDir, it reuses the pinned
// map (and so every reservation) and links, swapping in the programs it
// just loaded without a moment unenforced.
func New(cfg Config) (m *Manager, err error) {
	cfg.defaults()
	m = &Manager{cfg: cfg, owners: map[string]value{}, claimed: map[uint32]*claim{}, ephemeral: map[uint16]int{}}
	if m.rootID, err = cgroupID(cfg.CgroupRoot); err != nil {
		return nil, fmt.Errorf("cgroup v2 root: %w", err)
	}
	if m.rootID != rootCgroupID {
		// Owners are matched by their depth below the hierarchy's root
		// (bpf_get_current_ancestor_cgroup_id), so paths must start there.
		return nil, fmt.Errorf("cgroup v2 root %s is not the root of its hierarchy (cgroup id %d)", cfg.CgroupRoot, m.rootID)
	}
	if rel, err := filepath.Rel(cfg.CgroupRoot, cfg.AttachAt); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("attach point %s is not below the cgroup v2 root %s", cfg.AttachAt, cfg.CgroupRoot)
	}
	if m.attachID, err = cgroupID(cfg.AttachAt); err != nil {
		return nil, fmt.Errorf("attach point: %w", err)
	}
	if err := m.load(); err != nil {
		m.closeLocked()
		return nil, err
	}
	if !m.noCap {
		cfg.Log.Warn("kernel cannot let a port's owner bind below 1024 without privilege (needs Linux 5.12): low ports cannot be reserved")
	}
	cfg.Log.Info("port manager attached", "cgroup_root", cfg.CgroupRoot, "attach_at", cfg.AttachAt, "pin_dir", cfg.PinDir)
	return m, nil
}

// load loads, pins and attaches, and drops the claims a crashed process
// left pinned; on error the caller closes what is set.
func (m *Manager) load() error {
	pinned := map[string]*ebpf.Map{}
	defer func() {
		for _, p := range pinned {
			p.Close() // the collection holds its own reference
		}
	}()
	if m.pinning() {
		if err := ensureBPFFS(m.cfg.PinDir, m.cfg.BPFFS); err != nil {
			return err
		}
		for name, spec := range mapSpecs() {
			p, err := openPinnedMap(m.pin(name), spec, nil)
			if err != nil {
				return err
			}
			if p != nil {
				pinned[name] = p
			}
		}
	}
	coll, noCap, err := loadPrograms(pinned, int32(m.cfg.MaxSockets))
	if err != nil {
		return err
	}
	m.noCap = noCap
	m.ports, m.claims = coll.DetachMap(mapName), coll.DetachMap(claimsMapName)
	m.slivers, m.socks = coll.DetachMap(sliversMapName), coll.DetachMap(socksMapName)
	for _, h := range hooks {
		m.progs = append(m.progs, coll.DetachProgram(h.prog))
	}
	coll.Close()
	if err := m.pinMaps(pinned); err != nil {
		return err
	}
	if err := m.dropClaimsLocked(); err != nil {
		return fmt.Errorf("drop stale port claims: %w", err)
	}
	return m.attachAll()
}

// pinMaps pins the maps that were not pinned already.
func (m *Manager) pinMaps(pinned map[string]*ebpf.Map) error {
	if !m.pinning() {
		return nil
	}
	for name, mp := range m.maps() {
		if pinned[name] != nil {
			continue
		}
		if err := mp.Pin(m.pin(name)); err != nil {
			return fmt.Errorf("pin map %s: %w", name, err)
		}
	}
	return nil
}

func (m *Manager) attachAll() error {
	for i, h := range hooks {
		pin := ""
		if m.pinning() {
			pin = m.pin(h.prog)
		}
		l, err := attach(m.cfg.AttachAt, m.attachID, h.attach, m.progs[i], pin)
		if err != nil {
			return err
		}
		m.links = append(m.links, l)
	}
	return nil
}

func (m *Manager) pinning() bool { return m.cfg.PinDir != NoPin }

// maps are the Manager's maps by name.
func (m *Manager) maps() map[string]*ebpf.Map {
	return map[string]*ebpf.Map{mapName: m.ports, claimsMapName: m.claims, sliversMapName: m.slivers, socksMapName: m.socks}
}

func (m *Manager) pin(name string) string { return filepath.Join(m.cfg.PinDir, name) }

// LowPorts reports whether owners may bind reserved ports below 1024
// without privilege on this kernel; if not, Reserve refuses them.
func (m *Manager) LowPorts() bool { return m.noCap }

// Reserve makes ports the whole set of ports reserved for owner (a
// slice's name), whose processes run in the cgroup v2 directory
// cgroupPath (below the Manager's CgroupRoot): its own ports it no longer
// lists are released. A port reserved for another owner is an error that
// names that owner, and nothing changes. Ports inside the kernel's
// ephemeral range (ip_local_port_range) are refused, since the kernel
// could hand them to anyone's unbound socket.
//
// A reservation wins over another owner's claim (Claim): the claim is
// taken back and its raw and sniffer sockets are ended (their Revoke
// called, in parallel) before Reserve returns, so that no packet of the
// new owner's is dropped or captured for the old one once it may bind.
func (m *Manager) Reserve(ctx context.Context, owner, cgroupPath string, ports []api.Port) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v, want, err := m.desired(owner, cgroupPath, ports)
	if err != nil {
		return fmt.Errorf("reserve ports of %s: %w", owner, err)
	}
	ends, err := m.reserve(owner, v, want)
	var wg sync.WaitGroup
	for _, end := range ends {
		wg.Go(end)
	}
	wg.Wait()
	if err == nil {
		m.warnHeld(owner, want)
	}
	return err
}

// reserve is Reserve under the lock; it returns what ends the sockets of
// the claims it took back.
func (m *Manager) reserve(owner string, v value, want map[uint32]value) ([]func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("reserve ports: port manager closed")
	}
	// Counted first: a port that cannot be reserved must not leave the
	// sliver's sockets uncounted.
	if err := m.countLocked(owner, v.CgroupID); err != nil {
		return nil, fmt.Errorf("socket quota of %s: %w", owner, err)
	}
	if err := m.setLocked(owner, want); err != nil {
		return nil, fmt.Errorf("reserve ports of %s: %w", owner, err)
	}
	m.owners[owner] = v
	m.cfg.Log.Info("ports reserved", "slice", owner, "ports", len(want))
	return m.revokeLocked(owner, want), nil
}

// warnHeld logs the newly reserved ports that another sliver's sockets
// hold now: a reservation refuses new binds, it does not close sockets.
func (m *Manager) warnHeld(owner string, want map[uint32]value) {
	if len(want) == 0 {
		return // a sliver with no reserved port: no table to read
	}
	bound, err := m.boundSockets()
	if err != nil {
		m.cfg.Log.Warn("read bound sockets", "err", err)
		return
	}
	for _, e := range bound {
		k, _ := key(api.Port{Proto: e.Proto, Port: e.Port})
		if _, ok := want[k]; ok && e.Owner != owner {
			m.cfg.Log.Warn("reserved port held by another sliver", "slice", owner, "port", e.Port, "proto", e.Proto, "holder", e.Owner)
		}
	}
}

// desired checks a reservation and builds the owner's map value and
// its entries.
func (m *Manager) desired(owner, cgroupPath string, ports []api.Port) (value, map[uint32]value, error) {
	if owner == nodeOwner {
		return value{}, nil, fmt.Errorf("owner %q is the node's name", owner)
	}
	level, err := m.level(cgroupPath)
	if err != nil {
		return value{}, nil, err
	}
	id, err := cgroupID(cgroupPath)
	if err != nil {
		return value{}, nil, err
	}
	v, err := newValue(owner, id, level)
	if err != nil {
		return value{}, nil, err
	}
	lo, hi, err := ephemeralRange(m.cfg.ProcRoot)
	if err != nil {
		return value{}, nil, err
	}
	want := map[uint32]value{}
	for _, p := range ports {
		k, err := key(p)
		if err != nil {
			return value{}, nil, err
		}
		if p.Port >= lo && p.Port <= hi {
			return value{}, nil, fmt.Errorf("port %d/%s is in the ephemeral range %d-%d (ip_local_port_range)", p.Port, p.Proto, lo, hi)
		}
		if p.Port < 1024 && !m.noCap {
			return value{}, nil, fmt.Errorf("port %d/%s: this kernel cannot let an owner bind below 1024 without privilege (needs Linux 5.12)", p.Port, p.Proto)
		}
		want[k] = v
	}
	return v, want, nil
}

// level is the depth of dir below the cgroup v2 root.
func (m *Manager) level(dir string) (uint32, error) {
	rel, err := filepath.Rel(m.cfg.CgroupRoot, dir)
	if err != nil || !filepath.IsLocal(rel) || rel == "." {
		return 0, fmt.Errorf("cgroup %s is not below the cgroup v2 root %s", dir, m.cfg.CgroupRoot)
	}
	level := strings.Count(rel, string(filepath.Separator)) + 1
	if level > maxLevel {
		return 0, fmt.Errorf("cgroup %s is %d levels below the cgroup v2 root (at most %d)", dir, level, maxLevel)
	}
	return uint32(level), nil
}

// setLocked writes owner's entries: first a check that no other owner
// reserved any wanted port, then the new entries, then the removal of the
// owner's stale ones, so that no port the owner keeps is ever unreserved.
// Another owner's claim on a wanted port does not stop it: the caller
// revokes the claim (revokeLocked) once the entries are written, so that
// the port is never free for a third owner to bind.
func (m *Manager) setLocked(owner string, want map[uint32]value) error {
	have, err := readMap(m.ports)
	if err != nil {
		return err
	}
	for k := range want {
		p := portOf(k)
		if cur, ok := have[k]; ok && cur.owner() != owner {
			return fmt.Errorf("port %d/%s is reserved by %s", p.Port, p.Proto, cur.owner())
		}
	}
	for _, k := range sortedKeys(want) {
		if err := m.ports.Update(k, want[k], ebpf.UpdateAny); err != nil {
			return fmt.Errorf("update reservations map: %w", err)
		}
	}
	for _, k := range sortedKeys(have) {
		if _, keep := want[k]; !keep && have[k].owner() == owner {
			if err := m.ports.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("delete from reservations map: %w", err)
			}
		}
	}
	return nil
}

// Release frees every port reserved for owner. Releasing an owner with
// no reservation succeeds.
func (m *Manager) Release(owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("release ports: port manager closed")
	}
	if err := m.setLocked(owner, nil); err != nil {
		return fmt.Errorf("release ports of %s: %w", owner, err)
	}
	if err := m.uncountLocked(owner, 0); err != nil {
		return fmt.Errorf("release socket quota of %s: %w", owner, err)
	}
	delete(m.owners, owner)
	m.cfg.Log.Info("ports released", "slice", owner)
	return nil
}

// List is who holds what: every reservation, and every port a sliver's
// socket is bound to now (attributed by Config.Resolve), sorted by
// protocol, port, kind and owner.
func (m *Manager) List() ([]Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("list ports: port manager closed")
	}
	return list(m.ports, m.claims, m.cfg.ProcRoot, m.cfg.Resolve)
}

// Close releases the Manager's hold on the kernel objects and drops
// every claim (no claim outlives its Manager). Pinned links stay
// attached, so reservations are still enforced while no Manager runs (a
// restart of the node agent); without pinning, closing detaches the
// programs. See Detach.
func (m *Manager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closeLocked()
}

// Detach removes the programs from the cgroup root and deletes the pins
// and every reservation: for a node that really shuts down, leaving
// nothing in the kernel.
func (m *Manager) Detach() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("detach: port manager closed")
	}
	var errs []error
	if m.pinning() {
		// By path: a map reused from a pin does not know its pin.
		var names []string
		for _, h := range hooks {
			names = append(names, h.prog)
		}
		for name := range mapSpecs() {
			names = append(names, name)
		}
		for _, name := range names {
			if err := os.Remove(m.pin(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, RemoveLocalReserved(m.cfg.LocalReservedPorts, m.nodeListed...))
	m.nodeListed = nil
	errs = append(errs, m.closeLocked())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach port manager: %w", err)
	}
	m.cfg.Log.Info("port manager detached", "cgroup_root", m.cfg.CgroupRoot)
	return nil
}

func (m *Manager) closeLocked() error {
	if m.closed {
		return nil
	}
	m.closed = true
	var errs []error
	if m.claims != nil {
		errs = append(errs, m.dropClaimsLocked())
	}
	for _, l := range slices.Backward(m.links) {
		errs = append(errs, l.Close())
	}
	for _, p := range m.progs {
		errs = append(errs, p.Close())
	}
	for _, mp := range m.maps() {
		if mp != nil {
			errs = append(errs, mp.Close())
		}
	}
	return errors.Join(errs...)
}
