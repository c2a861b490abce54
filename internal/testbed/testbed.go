// Package testbed is `orbis testbed`: several Orbis nodes on one machine,
// each in a network namespace of its own with its own address on a
// private bridge, each running its own `orbis node` process against one
// `orbis central` on the host. It is the platform of the end-to-end tests
// and the multi-node demo.
//
// Everything it makes in the kernel is named after one prefix (default
// "orbtb"): the bridge <prefix>0, a veth <prefix><i> per node whose peer
// is eth0 in network namespace <prefix>-n<i> (/run/netns), and the node's
// cgroup parent <prefix>-n<i>. Down removes all of it, also after a crash,
// from the state file and a sweep by prefix.
package testbed

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/nodemgr"
)

// Defaults of Config.
const (
	DefaultDir         = "/var/lib/orbis-testbed"
	DefaultPrefix      = "orbtb"
	DefaultCentralPort = 8780
	DefaultSSHPort     = 22
	// DefaultAuditPort is where each node serves its traffic auditor's
	// pages on its address, as a production node does on its public one
	// (paper 4.4.3): anyone on the testbed's network, the host's browser
	// included, can look up who sent them traffic.
	DefaultAuditPort = 80
	// DefaultUIDBase and DefaultUIDRanges give node i the host UIDs from
	// DefaultUIDBase + i*DefaultUIDRanges*65536, 762 slice ranges each
	// (just under 50,000,000 UIDs), disjoint from `orbis dev`'s low ones.
	// Two testbeds with the same base still never share a range: every
	// node claims the ranges it hands out machine-wide
	// (nodemgr.DefaultUIDClaimDir), skips those another node holds, says
	// so at start, and refuses to start if another took one its slivers
	// use.
	DefaultUIDBase   = 10_000_000
	DefaultUIDRanges = 762
	// MaxNodes bounds a testbed's size (interface names; the subnet and the UID space are checked too).
	MaxNodes = 200
)

// DefaultSubnet is the testbed's private network: the host is .1 on the
// bridge, node i is .(10+i).
var DefaultSubnet = netip.MustParsePrefix("10.213.0.0/24")

// Site is the login_base of the site that holds the testbed's nodes; its
// slices are named tb_<something>.
const Site = "tb"

// AdminEmail is central's bootstrap admin.
const AdminEmail = "admin@orbis.testbed"

// Config describes a testbed. Up, Down and Status must be given the same
// Dir and Prefix; the rest is recorded in the state file by Up.
type Config struct {
	// Dir holds the state file, central's data, each node's state
	// (n<i>/) and the logs (central.log, n<i>.log).
	Dir string
	// Nodes is how many nodes Up starts (1..MaxNodes).
	Nodes int
	// Prefix names every kernel object of the testbed: lower-case
	// letters and digits, starting and ending with a letter, at most 12.
	Prefix string
	// Subnet is the bridge's IPv4 network.
	Subnet netip.Prefix
	// CentralPort is central's port on the host's bridge address;
	// SSHPort the nodes' SSH gateway port; AuditPort the port of the
	// nodes' traffic auditor pages.
	CentralPort, SSHPort, AuditPort int
	// UIDBase and UIDRanges lay out the nodes' host UIDs (see
	// DefaultUIDBase).
	UIDBase, UIDRanges uint32
	// Binary is the orbis binary the processes run (default: this one).
	Binary string
	// OwnBinary gives each node its own name for Binary (a hard link, or
	// a copy, beside its state directory), so that upgrading a node from
	// central (`orbis nodes upgrade`) replaces that node's alone.
	OwnBinary bool
	// UpgradeCheck is the nodes' --upgrade-check (0: the node's default).
	UpgradeCheck time.Duration
	// DB is central's --db: a PostgreSQL URL, or empty for SQLite in
	// central's data directory.
	DB string
	// CgroupRoot is where the cgroup file systems are mounted.
	CgroupRoot string
	// Out receives progress for a person; Log the records.
	Out io.Writer
	Log *slog.Logger
}

var validPrefix = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9]{0,10}[a-z]$`) })

func (c *Config) defaults() error {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("testbed dir: %w", err)
	}
	c.Dir = dir
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if !validPrefix().MatchString(c.Prefix) {
		return fmt.Errorf("prefix %q: want 2 to 12 lower-case letters and digits, starting and ending with a letter", c.Prefix)
	}
	if !c.Subnet.IsValid() {
		c.Subnet = DefaultSubnet
	}
	if c.CentralPort == 0 {
		c.CentralPort = DefaultCentralPort
	}
	if c.SSHPort == 0 {
		c.SSHPort = DefaultSSHPort
	}
	if c.AuditPort == 0 {
		c.AuditPort = DefaultAuditPort
	}
	if c.UIDBase == 0 {
		c.UIDBase = DefaultUIDBase
	}
	if c.UIDRanges == 0 {
		c.UIDRanges = DefaultUIDRanges
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/sys/fs/cgroup"
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// checkUp validates what only Up needs.
func (c *Config) checkUp() error {
	if c.Nodes < 1 || c.Nodes > MaxNodes {
		return fmt.Errorf("--nodes %d: want 1 to %d", c.Nodes, MaxNodes)
	}
	if !c.Subnet.Addr().Is4() || c.Subnet.Bits() > 32-6 {
		return fmt.Errorf("subnet %s: want an IPv4 network of at least /26", c.Subnet)
	}
	if _, ok := c.nodeAddr(c.Nodes); !ok {
		return fmt.Errorf("subnet %s has no room for %d nodes (node i is .10+i)", c.Subnet, c.Nodes)
	}
	top := uint64(c.UIDBase) + uint64(c.Nodes+1)*uint64(c.UIDRanges)*nodemgr.UIDRangeSize
	if top > 1<<32-1 {
		return fmt.Errorf("%d nodes of %d UID ranges from %d do not fit in 32-bit UIDs", c.Nodes, c.UIDRanges, c.UIDBase)
	}
	if c.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the orbis binary: %w", err)
		}
		c.Binary = exe
	}
	return nil
}

// Names and addresses of the testbed's objects.

func (c *Config) bridge() string            { return c.Prefix + "0" }
func (c *Config) veth(i int) string         { return c.Prefix + strconv.Itoa(i) }
func (c *Config) netnsName(i int) string    { return fmt.Sprintf("%s-n%d", c.Prefix, i) }
func (c *Config) netnsPath(i int) string    { return filepath.Join(NetnsDir, c.netnsName(i)) }
func (c *Config) cgroupParent(i int) string { return fmt.Sprintf("%s-n%d", c.Prefix, i) }
func (c *Config) nodeDir(i int) string      { return filepath.Join(c.Dir, "n"+strconv.Itoa(i)) }
func (c *Config) centralDir() string        { return filepath.Join(c.Dir, "central") }
func (c *Config) hostAddr() netip.Addr      { return c.Subnet.Masked().Addr().Next() }
func (c *Config) uidBase(i int) uint32      { return c.UIDBase + uint32(i)*c.UIDRanges*nodemgr.UIDRangeSize }
func (c *Config) centralURL() string        { return "https://" + c.centralAddr() }
func (c *Config) centralAddr() string {
	return netip.AddrPortFrom(c.hostAddr(), uint16(c.CentralPort)).String()
}
func (c *Config) stateFile() string          { return filepath.Join(c.Dir, "testbed.json") }
func (c *Config) logFile(name string) string { return filepath.Join(c.Dir, name+".log") }

// Hostname is node i's name at central.
func Hostname(i int) string { return fmt.Sprintf("n%d.testbed", i) }

// nodeAddr is node i's address: .10+i in the subnet.
func (c *Config) nodeAddr(i int) (netip.Addr, bool) {
	a := c.Subnet.Masked().Addr()
	for range 10 + i {
		a = a.Next()
	}
	last := a.Next() // keep the broadcast address free
	return a, c.Subnet.Contains(a) && c.Subnet.Contains(last)
}

// NetnsDir is where named network namespaces live, as `ip netns` keeps
// them.
const NetnsDir = "/run/netns"

// State is what a running testbed is made of, as Up records it in
// <dir>/testbed.json.
type State struct {
	Prefix string `json:"prefix"`
	Subnet string `json:"subnet"`
	Bridge string `json:"bridge"`
	// HostAddr is the host's address on the bridge.
	HostAddr string `json:"host_addr"`
	// CentralURL is where central answers, from the host and the nodes.
	CentralURL string `json:"central_url"`
	// CAFile is central's CA certificate, which clients pin; CAHash its
	// fingerprint, which the nodes' join tokens carry.
	CAFile string `json:"ca_file"`
	CAHash string `json:"ca_hash"`
	// AdminFile holds the bootstrap admin's email and password.
	AdminFile string `json:"admin_file"`
	Central   Proc   `json:"central"`
	Nodes     []Node `json:"nodes"`
}

// Node is one node of a testbed.
type Node struct {
	Index    int    `json:"index"`
	Hostname string `json:"hostname"`
	// Addr is the node's address; its SSH gateway is on SSHAddr.
	Addr    string `json:"addr"`
	SSHAddr string `json:"ssh_addr"`
	// AuditAddr is where the node serves its traffic auditor's pages;
	// AuditURL is their first page, for a browser on the host.
	AuditAddr string `json:"audit_addr"`
	AuditURL  string `json:"audit_url"`
	Netns     string `json:"netns"`
	Veth      string `json:"veth"`
	// StateDir is the node's state directory; NMSocket its node
	// manager's socket; Log its log file.
	StateDir string `json:"state_dir"`
	NMSocket string `json:"nm_socket"`
	Log      string `json:"log"`
	// CgroupParent and UIDBase keep it apart from the other nodes.
	CgroupParent string `json:"cgroup_parent"`
	UIDBase      uint32 `json:"uid_base"`
	Proc         Proc   `json:"proc"`
}

// Load reads the state of the testbed in dir; it returns an error
// satisfying errors.Is(err, fs.ErrNotExist) if there is none.
func Load(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, "testbed.json"))
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("testbed state: %w", err)
	}
	return &st, nil
}

// save writes the state atomically.
func (c *Config) save(st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(c.stateFile(), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("testbed state: %w", err)
	}
	return nil
}

// load reads the state of cfg's testbed, or nil if there is none.
func (c *Config) load() (*State, error) {
	st, err := Load(c.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return st, err
}
