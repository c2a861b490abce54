// Package portmgr is the node's port manager (paper section 4.3): one
// owner per TCP or UDP port, enforced in the kernel. A reservation, made
// through the node manager's rspec, maps (protocol, port) to the owner
// sliver's cgroup v2 directory; cgroup/bind4 and cgroup/bind6 BPF programs
// attached at the cgroup v2 root refuse every bind of a reserved port with
// EPERM unless the binding task is in the owner's cgroup (or below it),
// whatever its address family: an IPv6 dual-stack socket meets the same
// check as an IPv4 one. The owner may bind its reserved ports below 1024
// without CAP_NET_BIND_SERVICE (Linux 5.12 and later), so a sliver holds
// a reserved low port with no privilege over the node.
//
// The programs are written with cilium/ebpf's asm package (no C
// compiler). Their links and map are pinned in a bpffs directory, so that
// enforcement continues while the node agent restarts; a new agent reuses
// the pinned map and links and swaps in its own program atomically.
//
// Ports a sliver binds without a reservation are first come, first
// served, by the kernel's ordinary rules; List reports them with their
// owners, read from /proc/net.
//
// Design notes and limits:
//
//   - Attach point: the root of the cgroup v2 hierarchy, so every task on
//     the node, host processes and root included, meets the programs (or
//     Config.AttachAt, for several nodes on one machine). The
//     owner test is bpf_get_current_ancestor_cgroup_id(owner's level) ==
//     owner's cgroup id, so a sliver's tasks in sub-cgroups of its
//     directory count as the owner. It is the binding task's cgroup that
//     counts, not the socket's: an owner may bind and then pass the socket
//     on (delegation), but a socket passed to another sliver cannot bind a
//     reserved port there. Cgroup ids are never reused, so a reservation
//     whose cgroup was removed blocks the port for everyone until Release.
//   - Pinning: links and map are pinned under Config.PinDir (on a bpffs,
//     mounted at Config.BPFFS if needed). A bpf_link lives as long as an fd
//     or a pin holds it, so with pins the programs keep enforcing while the
//     node agent restarts. New reuses the pinned map and updates the pinned
//     links to the programs it loads (BPF_LINK_UPDATE: no gap). Close
//     keeps the pins; Detach removes them. The bpffs must be mounted in the
//     host's mount namespace: pins in a namespace that dies vanish with it.
//   - Low ports: the owner's bind returns 3 (allow, and skip the
//     CAP_NET_BIND_SERVICE check: Linux 5.12). On an older kernel the
//     verifier refuses that return code, New falls back to plain
//     allow/deny, and Reserve refuses ports below 1024 (LowPorts).
//   - Ephemeral ports: a TCP connect or a UDP sendmsg on an unbound
//     socket, or a bind to port 0, gets a port from ip_local_port_range
//     without a bind hook deciding; Reserve refuses ports in that range,
//     so such a port is never a reserved one, and Claim lists a claimed
//     port of that range in ip_local_reserved_ports while it is claimed.
//     Changing the range later over reserved or claimed ports reopens
//     the hole (not watched).
//   - Claims: a safe raw or sniffer socket's port is claimed for its
//     slice while the socket is bound (Claim, called by internal/rawsock):
//     the programs refuse its bind to everyone else as for a
//     reservation, from a second map, orbis_claims. A reservation wins
//     over another slice's claim: Reserve takes it back and ends its
//     sockets (Revoke) before it returns. Claims live in the
//     agent's memory and die with it: Close drops them, and New drops
//     those a crashed agent left in the pinned map (their
//     ip_local_reserved_ports entries included; with PinDir "none" such
//     entries stay until the operator removes them, which only keeps
//     those ports from being picked as ephemeral ones).
//   - Socket quota: a sliver holds at most Config.MaxSockets IPv4 and
//     IPv6 sockets at once (cgroup/sock_create refuses the next with
//     EPERM; see sockets.go), so at most that many ports, bound or
//     ephemeral: a slice cannot take ip_local_port_range from the others.
//     Slivers are known by the cgroups Reserve was given; a task's
//     sliver is its ancestor cgroup found in the slivers map.
//   - The node's ports: ReserveNode reserves ports (the node agent's
//     services) for every task that is in no sliver, on every address.
//   - Not covered: unreserved ports are not arbitrated beyond the
//     kernel's rules, which let two UIDs share a UDP port when both set
//     SO_REUSEADDR, and bind one port on different local addresses; a
//     reservation does not evict a socket already bound when it is made
//     (Reserve logs it). sock_diag's SOCK_DESTROY would not help: on
//     a socket bound to an explicit port it stops a TCP listener but
//     keeps the port (the holder may listen again, and a new bind
//     without SO_REUSEADDR fails), and a UDP socket keeps the port and
//     goes on receiving its datagrams; only the last close of the socket
//     frees the port. Reservations also apply in any network namespace
//     a sliver might create.
package portmgr

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/api"
)

// Config configures a Manager. Every root is a parameter, so tests can
// use their own.
// defaultProcRoot is where procfs is mounted by default; the socket
// tables under it are the caller's network namespace's.
const defaultProcRoot = "/proc"

type Config struct {
	// CgroupRoot is the root of the cgroup v2 hierarchy, where the
	// programs are attached: /sys/fs/cgroup on a pure v2 machine,
	// /sys/fs/cgroup/unified on a hybrid one. Sliver cgroups are below it.
	CgroupRoot string
	// AttachAt is the cgroup v2 directory, CgroupRoot or one below it,
	// where the programs are attached: only tasks at or below it meet
	// them. Empty means CgroupRoot: every task on the machine. A directory
	// holding only the node's slivers lets many nodes share one machine
	// (a testbed; the kernel allows 64 programs per cgroup and hook) and
	// keeps each node's reservations to its own slivers.
	AttachAt string
	// PinDir is a directory on a bpffs where the links and the map are
	// pinned (default DefaultPinDir); "none" pins nothing, and the
	// programs are detached when the Manager is closed.
	PinDir string
	// BPFFS is the bpffs mount point mounted if PinDir is not already on
	// a bpffs (default /sys/fs/bpf).
	BPFFS string
	// ProcRoot is where procfs is mounted (defaultProcRoot if empty).
	ProcRoot string
	// LocalReservedPorts is the node's ip_local_reserved_ports sysctl,
	// where claimed ports inside the ephemeral range are listed while
	// claimed (default ProcRoot/sys/net/ipv4/ip_local_reserved_ports).
	LocalReservedPorts string
	// Resolve attributes a host UID to a sliver, for List's bound
	// entries; nil attributes none.
	Resolve func(uid uint32) (owner string, ok bool)
	// MaxSockets is the most IPv4 and IPv6 sockets one sliver may hold at
	// once, and so the most ports (default DefaultMaxSockets; see
	// sockets.go).
	MaxSockets int
	// Log receives the manager's records.
	Log *slog.Logger
}

// DefaultPinDir is where a node pins the port manager's links and map.
const DefaultPinDir = "/sys/fs/bpf/orbis/portmgr"

// NoPin as Config.PinDir pins nothing.
const NoPin = "none"

func (c *Config) defaults() {
	if c.PinDir == "" {
		c.PinDir = DefaultPinDir
	}
	if c.AttachAt == "" {
		c.AttachAt = c.CgroupRoot
	}
	if c.BPFFS == "" {
		c.BPFFS = "/sys/fs/bpf"
	}
	if c.ProcRoot == "" {
		c.ProcRoot = defaultProcRoot
	}
	if c.LocalReservedPorts == "" {
		c.LocalReservedPorts = filepath.Join(c.ProcRoot, "sys/net/ipv4/ip_local_reserved_ports")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxSockets <= 0 {
		c.MaxSockets = DefaultMaxSockets
	}
	c.MaxSockets = min(c.MaxSockets, math.MaxInt32)
}

// Kind says how an Entry's owner holds its port.
type Kind string

// The kinds of Entry.
const (
	// Reserved: the port is reserved for the owner; nobody else may bind it.
	Reserved Kind = "reserved"
	// Claimed: a safe raw or sniffer socket of the owner holds the port
	// (Manager.Claim); nobody else may bind it while it does.
	Claimed Kind = "claimed"
	// Bound: a socket of the owner is bound to the port now.
	Bound Kind = "bound"
)

// Entry is one port and who holds it.
type Entry struct {
	Proto string // "tcp" or "udp"
	Port  uint16
	Owner string // a sliver's name
	Kind  Kind
}

// Protocol numbers of the reservations map's key.
const (
	ipprotoTCP = 6
	ipprotoUDP = 17
)

func protoNumber(proto string) (uint32, error) {
	switch proto {
	case "tcp":
		return ipprotoTCP, nil
	case "udp":
		return ipprotoUDP, nil
	}
	return 0, fmt.Errorf("protocol %q: want tcp or udp", proto)
}

func protoName(n uint32) string {
	switch n {
	case ipprotoTCP:
		return "tcp"
	case ipprotoUDP:
		return "udp"
	}
	return fmt.Sprintf("proto%d", n)
}

// key is a reservations map key: protocol<<16 | port.
func key(p api.Port) (uint32, error) {
	n, err := protoNumber(p.Proto)
	if err != nil {
		return 0, err
	}
	if p.Port == 0 {
		return 0, fmt.Errorf("port 0/%s cannot be reserved", p.Proto)
	}
	return n<<16 | uint32(p.Port), nil
}

func portOf(k uint32) api.Port {
	return api.Port{Proto: protoName(k >> 16), Port: uint16(k)}
}

// nameSize is the room for an owner's name in a map value.
const nameSize = 52

// valueSize is the size of a map value in bytes.
const valueSize = 8 + 4 + nameSize

// value is a reservations map value: the owner's cgroup v2 id, the
// depth of that cgroup below the root (for
// bpf_get_current_ancestor_cgroup_id), and its name for List. Its layout
// matches valCgroupID and valLevel. Cgroup id 0 is the node (see
// Manager.ReserveNode): every task in no sliver.
type value struct {
	CgroupID uint64
	Level    uint32
	Name     [nameSize]byte
}

func newValue(owner string, cgroupID uint64, level uint32) (value, error) {
	n, err := nameOf(owner)
	return value{CgroupID: cgroupID, Level: level, Name: n}, err
}

// nameOf is owner's name as a map value holds it.
func nameOf(owner string) ([nameSize]byte, error) {
	var n [nameSize]byte
	if owner == "" || len(owner) > nameSize || strings.IndexByte(owner, 0) >= 0 {
		return n, fmt.Errorf("owner name %q: want 1 to %d bytes", owner, nameSize)
	}
	copy(n[:], owner)
	return n, nil
}

func (v value) owner() string {
	n, _, _ := bytes.Cut(v.Name[:], []byte{0})
	return string(n)
}

// claimValueSize is the size of a claims map value in bytes.
const claimValueSize = valueSize + 8

// claimValue is a claims map value: the owner, laid out as in a
// reservation (the program reads both alike), and whether the claim put
// its port number in ip_local_reserved_ports, so that a Manager started
// after a crash takes it out again.
type claimValue struct {
	Owner     value
	Ephemeral uint32
	Pad       uint32
}
