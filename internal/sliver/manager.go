package sliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
	"github.com/orbisproject/orbis/internal/cgroup"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sandbox"
)

// Options configure a Manager. Every root is a parameter so tests can point
// it into a temporary directory.
type Options struct {
	// StateDir holds one host-only directory per sliver: its spec and its
	// markers. The sliver's writable layer lives in Disk, never here.
	StateDir string
	// RunDir holds one host-only directory per sliver for its running
	// sandbox (the init's pid record, control socket and start lock). It
	// belongs on a memory file system (/run): a login to a sliver writes
	// there, and must work while the state disk is full. Empty: in each
	// sliver's StateDir directory.
	RunDir string
	// Cgroups is the node's cgroup manager (parent "orbis"); Fair is a
	// manager one level down ("orbis/fair") for slivers without a CPU
	// guarantee. See cpu.go.
	Cgroups, Fair cgroup.Manager
	// Disk gives each sliver its quota'd private directory.
	Disk disk.Quota
	// Images resolves image names to reference root file systems.
	Images *rootfs.Store
	// DefaultImage is used for a Spec that names none.
	DefaultImage string
	// NumCPU is the node's CPU count, for turning thousandths of the node
	// into CFS quotas.
	NumCPU int
	// Network enforces the slivers' network rspecs; nil: none.
	Network Network
	// RunShare is the node's directory shown read-only at /run/orbis in
	// every sliver (sandbox.Config.RunShare); empty: none.
	RunShare string
	// Shares, when set, names further host directories to show read-only
	// in a sliver, decided per sliver from its spec (the node manager's
	// socket for privileged slices). A sliver whose shares change at
	// Update is restarted, if it was running, so that it sees them.
	Shares func(Spec) []sandbox.Share
	// RawSockets, when set, answers the raw socket() calls of each new
	// init of a sliver: it gets the sliver's network identity and the
	// init's seccomp listener, which it owns from then on
	// (sandbox.Config.RawSockets). Nil: slivers cannot open raw sockets.
	RawSockets func(s NetSliver, listener *os.File)
	// WarmAttach, when set, readies the kernel for a process to enter
	// its cgroups, without waiting; the manager calls it when a sliver's
	// init may soon start (Create, once the sliver's cgroups are made;
	// Start), so that the init's entry into its cgroups, on the critical
	// path of a start, is quick.
	WarmAttach func()
	// InitLinger is how long a sliver's init with no command left waits
	// for another before the sliver goes idle (sandbox.Config.Linger).
	InitLinger time.Duration
	// Log receives one record per lifecycle step.
	Log *slog.Logger
}

// Manager creates, starts, stops and destroys the slivers of one node. It
// implements the node manager's Runtime interface. Every step is safe to
// run again, so a step cut short by a crash is finished by the next call.
type Manager struct {
	opts Options

	// mu guards the following.
	mu    sync.Mutex
	locks map[string]*sync.Mutex // one per sliver, so slivers proceed in parallel
	// guarantees and uids index every sliver's spec; nil until first
	// used (indexLocked), so that a command that runs in one sliver
	// (orbis sliver exec) does not read every sliver's spec.
	guarantees map[string]int64     // CPU guarantee of each sliver, thousandths
	uids       map[string][2]uint32 // host UID range of each sliver: base, count
	fairWeight int64                // the fair group's weight last set; 0: none yet
}

// ErrNotFound is returned for a sliver that does not exist.
var ErrNotFound = errors.New("no such sliver")

// ErrStopped is returned by Exec for a sliver stopped on purpose.
var ErrStopped = errors.New("sliver is stopped")

// CheckName reports whether name is a valid slice name for a sliver
// (api.SliceName), a rule that also keeps every sliver path and cgroup
// name safe: no '/', no leading '.', no "..".
func CheckName(name string) error {
	if _, err := api.ParseSliceName(name); err != nil {
		return fmt.Errorf("invalid slice name: %w", err)
	}
	return nil
}

// NewManager returns a Manager, creating StateDir if needed. It reads the
// slivers already there when it first needs them (indexLocked).
func NewManager(opts Options) (*Manager, error) {
	if opts.NumCPU <= 0 {
		return nil, errors.New("sliver manager: NumCPU must be positive")
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("sliver state dir: %w", err)
	}
	return &Manager{opts: opts, locks: map[string]*sync.Mutex{}}, nil
}

// indexLocked reads the CPU guarantee and UID range of every sliver in
// StateDir into m.guarantees and m.uids, once. A sliver whose spec cannot
// be read is left out, as if it had no guarantee; a state directory that
// cannot be listed is an error, and the next call tries again.
func (m *Manager) indexLocked() error {
	if m.uids != nil {
		return nil
	}
	names, err := m.stateNames()
	if err != nil {
		return fmt.Errorf("index slivers: %w", err)
	}
	m.guarantees, m.uids = map[string]int64{}, map[string][2]uint32{}
	for _, n := range names {
		if s, err := m.readSpec(n); err == nil {
			m.guarantees[n] = s.Rspec.CPUGuarantee
			m.uids[n] = [2]uint32{s.UIDBase, s.UIDCount}
		}
	}
	return nil
}

// lock serialises the operations on one sliver.
func (m *Manager) lock(name string) func() {
	m.mu.Lock()
	l, ok := m.locks[name]
	if !ok {
		l = &sync.Mutex{}
		m.locks[name] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *Manager) dir(name string) string { return filepath.Join(m.opts.StateDir, name) }

// runDir is the sandbox's run directory of the sliver. One in the
// sliver's state directory, which an earlier version made, stays in use
// until the sliver stops: its running init listens there.
func (m *Manager) runDir(name string) string {
	legacy := filepath.Join(m.dir(name), runDir)
	if m.opts.RunDir == "" {
		return legacy
	}
	if _, err := os.Lstat(legacy); err == nil {
		return legacy
	}
	return filepath.Join(m.opts.RunDir, name)
}

// Files in a sliver's host-only state directory.
const (
	specFile    = "spec.json"
	startedFile = "started" // started, and not stopped since
	stoppedFile = "stopped" // stopped on purpose: logins refused
	runDir      = "run"     // the sandbox's run directory, without Options.RunDir
	filesFile   = "files"   // what went wrong writing the sliver's files
	applyFile   = "apply"   // what of the last update is not in force
)

func (m *Manager) marker(name, file string) bool {
	_, err := os.Stat(filepath.Join(m.dir(name), file))
	return err == nil
}

func (m *Manager) setMarker(name, file string, on bool) error {
	p := filepath.Join(m.dir(name), file)
	if !on {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(p, nil, 0o600)
}

func (m *Manager) readSpec(name string) (Spec, error) {
	var s Spec
	b, err := os.ReadFile(filepath.Join(m.dir(name), specFile))
	if errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("sliver %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return s, fmt.Errorf("read sliver spec: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read sliver spec %s: %w", name, err)
	}
	return s, nil
}

// SliceOfUID names the sliver whose host UID range holds uid: the node's
// services (raw sockets, port manager) learn who calls them this way.
func (m *Manager) SliceOfUID(uid uint32) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.indexLocked(); err != nil {
		m.opts.Log.Error("slice of a UID", "uid", uid, "err", err)
		return "", false
	}
	for name, r := range m.uids {
		if uid >= r[0] && uid-r[0] < r[1] {
			return name, true
		}
	}
	return "", false
}

// writeSpec enters the sliver of s in the manager's index and stores s
// crash-safely.
func (m *Manager) writeSpec(s Spec) error {
	m.mu.Lock()
	err := m.indexLocked()
	if err == nil {
		m.uids[s.Name] = [2]uint32{s.UIDBase, s.UIDCount}
	}
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sliver spec: %w", err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(m.dir(s.Name), specFile), b, 0o600); err != nil {
		return fmt.Errorf("sliver spec: %w", err)
	}
	return nil
}

// sandboxConfig is the sandbox of a created sliver.
func (m *Manager) sandboxConfig(s Spec, diskDir string) (sandbox.Config, error) {
	image, err := m.opts.Images.Path(m.imageName(s))
	if err != nil {
		return sandbox.Config{}, fmt.Errorf("sliver %s: %w", s.Name, err)
	}
	var raw func(*os.File)
	if m.opts.RawSockets != nil {
		ns := m.netSliver(s)
		raw = func(f *os.File) { m.opts.RawSockets(ns, f) }
	}
	return sandbox.Config{
		RawSockets:  raw,
		Name:        s.Name,
		Image:       image,
		Upper:       filepath.Join(diskDir, "upper"),
		Work:        filepath.Join(diskDir, "work"),
		RunDir:      m.runDir(s.Name),
		UIDBase:     s.UIDBase,
		UIDCount:    s.UIDCount,
		Rlimits:     Rlimits(s.Rspec),
		RunShare:    m.opts.RunShare,
		Shares:      m.shares(s),
		EnterCgroup: func(pid int) error { return m.enterCgroup(s, pid) },
		Mounting:    func() func() { return m.lendDisk(s) },
		Linger:      m.opts.InitLinger,
	}, nil
}

// shares are the extra shares of the sliver of s.
func (m *Manager) shares(s Spec) []sandbox.Share {
	if m.opts.Shares == nil {
		return nil
	}
	return m.opts.Shares(s)
}

// mountRoom is the disk lent to a sliver while its root is mounted.
const mountRoom = 1 << 20

// lendDisk raises the sliver's disk limit for the mount of its root, so a
// sliver that filled its quota still gets a writable root, in which it can
// delete files.
func (m *Manager) lendDisk(s Spec) func() {
	limit := s.Rspec.DiskMax
	if limit <= 0 || !m.opts.Disk.Enforces() {
		return func() {}
	}
	if err := m.opts.Disk.SetLimit(s.Name, limit+mountRoom); err != nil {
		m.opts.Log.Warn("lend disk for mount", "slice", s.Name, "err", err)
	}
	return func() {
		if err := m.opts.Disk.SetLimit(s.Name, limit); err != nil {
			m.opts.Log.Error("restore disk limit", "slice", s.Name, "err", err)
		}
	}
}

func (m *Manager) imageName(s Spec) string {
	if s.Image != "" {
		return s.Image
	}
	return m.opts.DefaultImage
}

// stateNames lists the slivers that have a state directory.
func (m *Manager) stateNames() ([]string, error) {
	ents, err := os.ReadDir(m.opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("list slivers: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() && CheckName(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// List names every sliver found on the node: in its state directory, its
// disk directories or its cgroups.
func (m *Manager) List(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	names, err := m.stateNames()
	if err != nil {
		return nil, err
	}
	more, err := m.opts.Disk.List()
	if err != nil {
		return nil, err
	}
	names = append(names, more...)
	for _, cg := range []cgroup.Manager{m.opts.Cgroups, m.opts.Fair} {
		more, err := cg.List()
		if err != nil {
			return nil, err
		}
		names = append(names, more...)
	}
	var out []string
	for _, n := range names {
		if !seen[n] && CheckName(n) == nil {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}
