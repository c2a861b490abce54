package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/reexec"
)

// Start runs cmd in the sliver: in its running init if it has one (as
// Exec), or else in a new init that it starts first. ctx bounds the start
// only, not the command's life; the init and the command outlive the
// caller's process.
func Start(ctx context.Context, cfg Config, cmd Cmd, log *slog.Logger) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cmd.validate(&cfg); err != nil {
		return nil, err
	}
	unlock, err := lockRun(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := Exec(ctx, cfg, cmd, log)
	if !errors.Is(err, ErrNotRunning) {
		return p, err
	}
	return startInit(ctx, &cfg, &cmd, log)
}

// warnUnscoped says once that slivers share abstract Unix sockets.
var warnUnscoped sync.Once

// startInit starts a new init for the sliver, with cmd as its first child.
func startInit(ctx context.Context, cfg *Config, cmd *Cmd, log *slog.Logger) (p *Process, err error) {
	t0 := time.Now()
	warnUnscoped.Do(func() {
		if !AbstractSocketsScoped() {
			log.Warn("this kernel has no Landlock abstract Unix socket scope (Linux 6.12): the node's slivers share abstract sockets")
		}
	})
	if err := waitOldInit(ctx, cfg); err != nil {
		return nil, err
	}
	var took phases
	took.mark(t0, "wait")
	if cfg.Mounting != nil {
		defer cfg.Mounting()()
	}
	took.mark(t0, "mounting")
	ln, err := listenCtl(cfg)
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	boot, childBoot, err := socketPair()
	if err != nil {
		return nil, err
	}
	defer childBoot.Close()
	exe, progs, shared, err := sealedInit()
	if err != nil {
		boot.Close()
		return nil, err
	}
	took.mark(t0, "exe")
	c := initCommand(cfg, exe, append([]*os.File{childBoot, ln}, progs...))
	if err := c.Start(); err != nil {
		boot.Close()
		return nil, fmt.Errorf("start init: %w", err)
	}
	childBoot.Close()
	took.mark(t0, "clone")
	defer func() {
		if err != nil {
			boot.Close()
			c.Process.Kill()
			c.Wait()
		}
	}()
	if err := bootInit(ctx, cfg, c.Process.Pid, boot); err != nil {
		return nil, err
	}
	took.mark(t0, "boot")
	rec, err := readRecord(c.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	if err := writeRecord(cfg, rec); err != nil {
		return nil, err
	}
	if shared {
		if err := noteInit(initHintFile, rec); err != nil {
			log.Warn("inits of other processes will not share this one's binary", "err", err)
		}
	}
	if p, err = spawn(ctx, boot, cmd); err != nil {
		return nil, err
	}
	go c.Wait() // reap the init when the sliver goes idle
	took.mark(t0, "spawn")
	log.Debug("sliver init started", "slice", cfg.Name, "init", c.Process.Pid, "pid", p.Pid, "took", time.Since(t0), "phases", took.String())
	return p, nil
}

// waitOldInit gives an init that is exiting (it closed its socket, so Exec
// found none) a moment to finish: two inits must never share an upper.
func waitOldInit(ctx context.Context, cfg *Config) error {
	pidfd, ok := openInit(cfg)
	if !ok {
		return nil
	}
	defer unix.Close(pidfd)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := waitPidfd(ctx, pidfd); err != nil {
		return fmt.Errorf("start sliver %s: an init is running but not answering: %w", cfg.Name, err)
	}
	return nil
}

// listenCtl makes the init's control socket in the run directory and
// returns it as a file for the init; only root on the host can reach it.
// Slivers share the node's network namespace, so its /proc/net/unix lists
// the name a socket was bound to: the socket is bound through a
// descriptor of the run directory, so that the name shows neither the
// node's state directory nor the slice.
func listenCtl(cfg *Config) (*os.File, error) {
	path := filepath.Join(cfg.RunDir, runCtl)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	dir, err := os.OpenFile(cfg.RunDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer dir.Close()
	name := fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), runCtl)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: name, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	defer ln.Close()
	f, err := ln.File()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return f, nil
}

// initCommand is the init's command: the sealed init program exe in new
// user, mount, PID, UTS and IPC namespaces, as root of the new user
// namespace, which maps the sliver's range. files become its fds from 3
// on: initBootFD, initCtlFD, initProgFD and idleProgFD.
func initCommand(cfg *Config, exe string, files []*os.File) *exec.Cmd {
	c := reexec.Command(initEntry)
	c.Path = exe
	// One P: the init mostly waits, and each P costs memory in every
	// running sliver.
	c.Env = []string{"GOMAXPROCS=1"}
	c.ExtraFiles = files
	idmap := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(cfg.UIDBase), Size: int(cfg.UIDCount)}}
	c.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWPID |
			unix.CLONE_NEWUTS | unix.CLONE_NEWIPC,
		UidMappings:                idmap,
		GidMappings:                idmap,
		GidMappingsEnableSetgroups: true,
		// Without root in its user namespace the child holds no
		// capability there and its first mount fails.
		Credential: &syscall.Credential{Uid: 0, Gid: 0},
		Setsid:     true,
	}
	return c
}

// bootInit puts the new init in its cgroups, hands it the sliver's layers
// and waits until it has made its root and confined itself.
func bootInit(ctx context.Context, cfg *Config, pid int, boot *net.UnixConn) error {
	if cfg.EnterCgroup != nil {
		if err := cfg.EnterCgroup(pid); err != nil {
			return fmt.Errorf("init cgroup: %w", err)
		}
	}
	fds, err := layerFDs(cfg, pid)
	defer closeFDs(fds)
	if err != nil {
		return err
	}
	setup := &setupMsg{Proto: protoVersion, Name: cfg.Name, Rlimits: cfg.Rlimits, Linger: cfg.Linger,
		RawNotify: cfg.RawSockets != nil, RawWaitInterruptible: cfg.RawWaitInterruptible}
	for _, sh := range cfg.allShares() {
		setup.Shares = append(setup.Shares, sh.Target)
	}
	if err := send(boot, message{Setup: setup}, fds...); err != nil {
		return fmt.Errorf("boot init: %w", err)
	}
	m, got, err := recvCtx(ctx, boot)
	// A closure, so that the listener handed on below (got = nil) is not
	// closed again: its number may by then be another file's.
	defer func() { closeFDs(got) }()
	if err != nil {
		return fmt.Errorf("boot init: %w", err)
	}
	if !m.OK {
		return fmt.Errorf("boot init: %s", orDefault(m.Error, "malformed reply"))
	}
	if cfg.RawSockets == nil {
		return nil
	}
	if len(got) != 1 {
		return errors.New("boot init: no seccomp listener with the ok")
	}
	listener := os.NewFile(uintptr(got[0]), "seccomp-listener")
	got = nil
	cfg.RawSockets(listener)
	return nil
}

// layerFDs opens what the init needs from the host, in setupMsg fd order.
// The init could not reach these paths itself (it is not host root), nor
// use fds of the host's mounts: mounts and overlay layers must be in its
// own mount namespace. So the host sends detached mounts, which the init
// attaches in its namespace, and fds of upper and work inside one of them.
func layerFDs(cfg *Config, pid int) (fds []int, err error) {
	fds = make([]int, 0, setupFDs)
	idmap, err := idmapImage(cfg.Image, pid)
	if err != nil {
		return fds, err
	}
	fds = append(fds, idmap)
	layers, err := unix.OpenTree(unix.AT_FDCWD, filepath.Dir(cfg.Upper), unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fds, fmt.Errorf("sliver layers: open_tree %s: %w", filepath.Dir(cfg.Upper), err)
	}
	fds = append(fds, layers)
	for _, dir := range []string{cfg.Upper, cfg.Work} {
		fd, err := openOwnedDir(layers, filepath.Base(dir), cfg.UIDBase)
		if err != nil {
			return fds, fmt.Errorf("sliver layers: %w", err)
		}
		fds = append(fds, fd)
	}
	for _, sh := range cfg.allShares() {
		share, err := shareMount(sh.Source)
		if err != nil {
			return fds, err
		}
		fds = append(fds, share)
	}
	return fds, nil
}

// allShares is RunShare, at /run/orbis, then Shares.
func (cfg *Config) allShares() []Share {
	var all []Share
	if cfg.RunShare != "" {
		all = append(all, Share{Source: cfg.RunShare, Target: RunShareTarget})
	}
	return append(all, cfg.Shares...)
}

// shareMount returns a detached, read-only clone of the host directory dir.
func shareMount(dir string) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("share: open_tree %s: %w", dir, err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("share %s: mount_setattr: %w", dir, err)
	}
	return fd, nil
}

// idmapImage returns a detached, read-only mount of the image, idmapped
// through the user namespace of pid: root-owned files show as owned by the
// sliver's root, and one image serves every sliver without a copy.
func idmapImage(image string, pid int) (int, error) {
	userns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/user", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("idmapped image: %w", err)
	}
	defer unix.Close(userns)
	fd, err := unix.OpenTree(unix.AT_FDCWD, image, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("idmapped image: open_tree %s: %w", image, err)
	}
	attr := &unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
		Userns_fd: uint64(userns),
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmapped image: mount_setattr %s: %w", image, explainIdmap(image, err))
	}
	return fd, nil
}

// phases notes when each step of a start ended, for the debug log.
type phases []string

func (ph *phases) mark(t0 time.Time, step string) {
	*ph = append(*ph, fmt.Sprintf("%s@%.1fms", step, float64(time.Since(t0).Microseconds())/1000))
}

func (ph phases) String() string { return strings.Join(ph, " ") }
