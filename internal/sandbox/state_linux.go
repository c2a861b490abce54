package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// initRecord identifies a running init beyond its pid, so that a recycled
// pid is never taken for it: the process's start time and the inode of its
// user namespace.
type initRecord struct {
	Pid       int
	StartTime uint64
	UserNS    uint64
}

func (r initRecord) String() string {
	return fmt.Sprintf("%d %d %d\n", r.Pid, r.StartTime, r.UserNS)
}

// readRecord reads what /proc says now about pid.
func readRecord(pid int) (initRecord, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return initRecord{}, err
	}
	// Fields after the command name, which may hold spaces and ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return initRecord{}, errors.New("malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 20 {
		return initRecord{}, errors.New("malformed stat")
	}
	if f[0] == "Z" || f[0] == "X" {
		return initRecord{}, errors.New("exited")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return initRecord{}, fmt.Errorf("malformed stat: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &st); err != nil {
		return initRecord{}, err
	}
	return initRecord{Pid: pid, StartTime: start, UserNS: st.Ino}, nil
}

func writeRecord(cfg *Config, r initRecord) error {
	// RunDir is under /run: the record need not outlive a crash.
	if err := atomicfile.WriteFileNoSync(filepath.Join(cfg.RunDir, runPid), []byte(r.String()), 0o600); err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return nil
}

// InitPid returns the host pid of the sliver's init and whether it is
// running. The pid file is trusted only if the process's start time and
// user namespace still match.
func InitPid(cfg Config) (int, bool) {
	b, err := os.ReadFile(filepath.Join(cfg.RunDir, runPid))
	if err != nil {
		return 0, false
	}
	var want initRecord
	if _, err := fmt.Sscanf(string(b), "%d %d %d", &want.Pid, &want.StartTime, &want.UserNS); err != nil || want.Pid <= 1 {
		return 0, false
	}
	got, err := readRecord(want.Pid)
	if err != nil || got != want {
		return 0, false
	}
	return want.Pid, true
}

// Stop kills every process of the sliver: it kills the init, and the
// kernel kills the rest of its PID namespace. It waits until the init is
// gone or ctx is done. Stopping a sliver that is not running is not an
// error.
func Stop(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	unlock, err := lockRun(ctx, &cfg)
	if err != nil {
		return err
	}
	defer unlock()
	if err := killInit(ctx, &cfg); err != nil {
		return fmt.Errorf("stop sliver %s: %w", cfg.Name, err)
	}
	os.Remove(filepath.Join(cfg.RunDir, runPid))
	os.Remove(filepath.Join(cfg.RunDir, runCtl))
	return nil
}

// killInit SIGKILLs the running init, if any, and waits for it to exit.
func killInit(ctx context.Context, cfg *Config) error {
	pidfd, ok := openInit(cfg)
	if !ok {
		return nil
	}
	defer unix.Close(pidfd)
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil && err != unix.ESRCH {
		return fmt.Errorf("kill init: %w", err)
	}
	return waitPidfd(ctx, pidfd)
}

// openInit returns a pidfd of the running init. The record is checked
// after the pidfd is open, so the pidfd cannot name a recycled pid.
func openInit(cfg *Config) (int, bool) {
	pid, ok := InitPid(*cfg)
	if !ok {
		return -1, false
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, false
	}
	if got, ok := InitPid(*cfg); !ok || got != pid {
		unix.Close(pidfd)
		return -1, false
	}
	return pidfd, true
}

// waitPidfd waits until the process of pidfd has exited.
func waitPidfd(ctx context.Context, pidfd int) error {
	for {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 20)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll pidfd: %w", err)
		}
		if n > 0 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for init: %w", ctx.Err())
		}
	}
}

// lockRun takes the sliver's start lock, a host-only flock in RunDir,
// making RunDir if it is gone (/run is empty after a reboot).
func lockRun(ctx context.Context, cfg *Config) (unlock func(), err error) {
	if err := os.MkdirAll(cfg.RunDir, 0o700); err != nil {
		return nil, fmt.Errorf("lock sliver: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(cfg.RunDir, runLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock sliver: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock sliver: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock sliver: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}
