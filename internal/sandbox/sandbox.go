// Package sandbox is the container runtime that makes a sliver a real
// container: its own user, mount, PID, UTS, IPC and cgroup namespaces (the
// network namespace is the node's; the cgroup namespace is rooted at the
// sliver's own cgroups, so the sliver sees "/" there and no host path), a
// host UID range, a copy-on-write root made of an
// overlay over an idmapped, read-only reference image, and a limited root.
//
// A running sliver has exactly one init process: pid 1 of its PID namespace,
// the small static init program (cmd/orbis-init, beside orbis) run from a
// sealed memfd, so /proc/1/exe never leads to a host file and nobody can
// write or replace what it names (CVE-2019-5736). The node's inits share
// one such memfd, whichever process started them: a running sliver pins no
// copy of its own. Without the init program (a test binary), an init runs
// a sealed copy of the binary that starts it. While the sliver's commands
// run and no request comes, the init executes the idle program
// (cmd/orbis-idle, beside orbis: a few pages of C, shared the same way) in
// its place, and the idle program executes the init again for the next
// request (idle_linux.go). The init sets up the root, drops
// what the sliver must not have (capabilities, privilege gain through exec,
// dangerous system calls) and then spawns every command of the sliver as its
// own child: the first one it is started with, and every later one a host
// process asks for over a Unix socket in the sliver's host-only run
// directory. The init exits when it has had no child for Config.Linger, so
// an idle sliver holds no process at all; the next Start brings a new one.
//
// Spawning through the init replaces the usual setns "join": a multi-threaded
// Go process cannot setns into a user or mount namespace, and a joining
// process would have to repeat the cgroup, rlimit, capability and seccomp
// steps itself. Every process the init spawns inherits all of them from the
// init, which entered its cgroups before it ran any sliver code. It is also
// why the init can tell when the sliver is idle: every process of the
// sliver is its descendant.
//
// Inside the sliver: /proc is a fresh proc of the sliver's PID namespace;
// /dev is a small tmpfs with null, zero, full, random, urandom and tty bound
// from the host, a devpts instance of its own (ptmx) and a tmpfs /dev/shm;
// /sys is absent (left as the image has it), since sysfs cannot be mounted
// without a network namespace and a bind of the host's would let a slice
// name other slices' cgroups.
package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotRunning is returned by Exec when the sliver has no init to spawn
// the command; Start then starts one.
var ErrNotRunning = errors.New("sliver is not running")

// Config describes one sliver's sandbox. The same Config must be passed to
// Prepare, Start, Exec and Stop.
type Config struct {
	// Name is the sliver's hostname (the slice name).
	Name string
	// Image is the host path of the read-only, root-owned reference root
	// file system. It is mounted idmapped for the sliver's range and
	// read-only as the overlay's lower layer, so it is never written.
	Image string
	// Upper and Work are the host directories of the overlay's upper and
	// work layers; Prepare creates them owned by UIDBase. They must be in
	// the same directory (overlay wants them on one mount), which the
	// sliver must not be able to write.
	Upper, Work string
	// RunDir is a host-only directory (root, mode 0700) for the sliver's
	// control socket, pid file and lock; Prepare creates it. It must not be
	// inside Upper or Work.
	RunDir string
	// UIDBase is the first host UID and GID of the sliver's range: UID 0
	// inside is UIDBase on the host. UIDCount is the range's size.
	UIDBase, UIDCount uint32
	// Rlimits are set on the init and so on every process of the sliver.
	Rlimits []Rlimit
	// EnterCgroup, when set, is called with the init's host pid before the
	// init runs any sliver code; every process of the sliver inherits the
	// cgroups it puts the init in.
	EnterCgroup func(pid int) error
	// RunShare, when set, is a host directory (root's, not writable by
	// any sliver) bind-mounted read-only at /run/orbis in the sliver: the
	// node's services for slivers, such as the raw socket service, put
	// their sockets there.
	RunShare string
	// RawSockets, when set, makes the sliver's socket(AF_INET or
	// AF_INET6, SOCK_RAW, proto) calls wait for the owner of a seccomp
	// listener instead of failing: each new init hands its listener to
	// RawSockets, which must answer and close it. The init keeps a copy
	// that only the host can ask for (RawListener, for a restarted
	// agent) and no process of the sliver can reach; so without someone
	// answering, the calls wait. Use it only where RawNotifySupported.
	RawSockets func(listener *os.File)
	// RawWaitInterruptible keeps the wait of a raw socket() call for its
	// answer interruptible by signals even where the kernel could make
	// it killable once the answer is under way (Linux 5.19): how the
	// calls wait on older kernels, for tests.
	RawWaitInterruptible bool
	// Shares are further host directories shown in the sliver, each
	// bind-mounted read-only, nosuid, nodev and noexec at its Target
	// (e.g. the node manager's socket directory at /run/orbis-nm, for the
	// slivers of privileged slices only). The sandbox makes the mount
	// point inside the sliver as the sliver's own root, refusing a
	// symlink on the way.
	Shares []Share
	// Linger is how long a running init that has no command left waits
	// for another before it exits and the sliver goes idle (0: it exits at
	// once). A command that follows within it (`orbis sliver exec` right
	// after the boot script) is spawned by the same init, not a new one.
	Linger time.Duration
	// Mounting, when set, is called before a new init mounts the sliver's
	// root, and the function it returns once the root is mounted. Overlayfs
	// recreates its work directory at every mount, and falls back to a
	// read-only root when the sliver's disk quota is full: the disk quota
	// lends the room for that here, while no sliver process can run.
	Mounting func() (done func())
}

// A Share is a host directory shown read-only in a sliver.
type Share struct {
	// Source is the host directory: root's, and not writable by any
	// sliver.
	Source string `json:"source"`
	// Target is where the sliver sees it: an absolute, clean path outside
	// /run/orbis, /proc and /dev.
	Target string `json:"target"`
}

// MaxLinger bounds Config.Linger.
const MaxLinger = time.Minute

// maxShares bounds Config.Shares.
const maxShares = 4

// RunShareTarget is where Config.RunShare shows in a sliver.
const RunShareTarget = "/run/orbis"

func (sh Share) validate() error {
	t := sh.Target
	switch {
	case !filepath.IsAbs(sh.Source):
		return fmt.Errorf("share source %q is not absolute", sh.Source)
	case !filepath.IsAbs(t) || filepath.Clean(t) != t || t == "/":
		return fmt.Errorf("share target %q must be an absolute, clean path below /", t)
	}
	for _, p := range []string{RunShareTarget, "/proc", "/dev"} {
		if t == p || strings.HasPrefix(t, p+"/") {
			return fmt.Errorf("share target %q: %s is the sandbox's own", t, p)
		}
	}
	return nil
}

// A File is a file the node keeps in a sliver (the slice's SSH keys, its
// boot script), which InstallFiles writes.
type File struct {
	// Path is where the sliver sees it: absolute and clean.
	Path string `json:"path"`
	// Dirs are the directories on its way, parents first, which are made
	// where missing.
	Dirs []Dir `json:"dirs,omitempty"`
	// Mode is the file's permission bits.
	Mode os.FileMode `json:"mode"`
	// Data is its content, unless Remove: then the file is removed.
	Data   []byte `json:"-"`
	Remove bool   `json:"remove,omitempty"`
}

// A Dir is a directory a File needs, and the mode to make it with.
type Dir struct {
	Path string      `json:"path"`
	Mode os.FileMode `json:"mode"`
}

// Bounds on what InstallFiles takes.
const (
	maxFiles    = 8
	maxFileData = 1 << 20
)

func validateFiles(files []File) error {
	if len(files) > maxFiles {
		return fmt.Errorf("sliver files: %d (max %d)", len(files), maxFiles)
	}
	for _, f := range files {
		if err := checkSliverPath(f.Path); err != nil {
			return err
		}
		if len(f.Data) > maxFileData {
			return fmt.Errorf("sliver file %s: %d bytes (max %d)", f.Path, len(f.Data), maxFileData)
		}
		for _, d := range f.Dirs {
			if err := checkSliverPath(d.Path); err != nil {
				return err
			}
			if !strings.HasPrefix(f.Path, d.Path+"/") {
				return fmt.Errorf("sliver file %s: %s is not on its way", f.Path, d.Path)
			}
		}
	}
	return nil
}

// checkSliverPath accepts an absolute, clean path below / and outside the
// sandbox's own mounts.
func checkSliverPath(p string) error {
	if !filepath.IsAbs(p) || filepath.Clean(p) != p || p == "/" {
		return fmt.Errorf("sliver file %q: want an absolute, clean path below /", p)
	}
	for _, own := range []string{RunShareTarget, "/proc", "/dev"} {
		if p == own || strings.HasPrefix(p, own+"/") {
			return fmt.Errorf("sliver file %q: %s is the sandbox's own", p, own)
		}
	}
	return nil
}

// Rlimit is one resource limit (unix.RLIMIT_NOFILE, unix.RLIMIT_NPROC...).
type Rlimit struct {
	Resource   int
	Soft, Hard uint64
}

// Cmd is a command to run inside a sliver.
type Cmd struct {
	// Args is the command line; Args[0] is looked up in PATH inside the
	// sliver when it has no slash.
	Args []string
	// Env is the environment; nil means DefaultEnv.
	Env []string
	// Dir is the working directory inside the sliver; empty means "/".
	Dir string
	// UID and GID are the command's IDs inside the sliver; Groups are its
	// supplementary groups.
	UID, GID uint32
	Groups   []uint32
	// Stdin, Stdout and Stderr are as in os/exec: nil means /dev/null, an
	// *os.File is passed as it is, anything else is copied through a pipe.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal, when set, gives the command a new pseudo-terminal of that
	// size as its standard input, output and error and its controlling
	// terminal; Stdin, Stdout and Stderr are then ignored. The terminal is
	// made by the sliver's init on the sliver's own devpts, so that the
	// command finds itself in /dev/pts (tty(1), ttyname(3)); the host gets
	// its master from Process.Terminal.
	Terminal *Winsize
}

// Winsize is a terminal's size in characters and pixels.
type Winsize struct {
	Rows, Cols, Width, Height uint16
}

// DefaultEnv is the environment of a command that sets none.
var DefaultEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
}

// Validate reports whether cfg is complete and plausible.
func (cfg *Config) Validate() error {
	if cfg.Name == "" || len(cfg.Name) > 64 {
		return fmt.Errorf("sandbox config: bad name %q", cfg.Name)
	}
	for what, p := range map[string]string{"image": cfg.Image, "upper": cfg.Upper, "work": cfg.Work, "run dir": cfg.RunDir} {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("sandbox config: %s path %q is not absolute", what, p)
		}
	}
	if filepath.Dir(cfg.Upper) != filepath.Dir(cfg.Work) || cfg.Upper == cfg.Work {
		return fmt.Errorf("sandbox config: upper %q and work %q must be two directories in one", cfg.Upper, cfg.Work)
	}
	if cfg.Linger < 0 || cfg.Linger > MaxLinger {
		return fmt.Errorf("sandbox config: linger %v (want 0 to %v)", cfg.Linger, MaxLinger)
	}
	if len(cfg.Shares) > maxShares {
		return fmt.Errorf("sandbox config: %d shares (max %d)", len(cfg.Shares), maxShares)
	}
	seen := map[string]bool{}
	for _, sh := range cfg.Shares {
		if err := sh.validate(); err != nil {
			return fmt.Errorf("sandbox config: %w", err)
		}
		if seen[sh.Target] {
			return fmt.Errorf("sandbox config: two shares at %s", sh.Target)
		}
		seen[sh.Target] = true
	}
	if cfg.UIDBase == 0 || cfg.UIDCount == 0 || uint64(cfg.UIDBase)+uint64(cfg.UIDCount) > 1<<32-1 {
		return fmt.Errorf("sandbox config: bad UID range %d+%d", cfg.UIDBase, cfg.UIDCount)
	}
	return nil
}

func (c *Cmd) validate(cfg *Config) error {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return errors.New("command: no arguments")
	}
	if c.UID >= cfg.UIDCount || c.GID >= cfg.UIDCount {
		return fmt.Errorf("command: uid %d or gid %d outside the sliver's range", c.UID, c.GID)
	}
	return nil
}
