package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/reexec"
)

// Proc is a process the testbed started, named by its pid and its start
// time (in clock ticks since boot), so that a reused pid is never taken
// for it.
type Proc struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Alive reports whether the process still runs (a zombie does not).
func (p Proc) Alive() bool {
	if p.Pid <= 0 {
		return false
	}
	state, start, err := procStat(p.Pid)
	return err == nil && start == p.Start && state != 'Z' && state != 'X'
}

// signal sends sig to the process if it is still the one started.
func (p Proc) signal(sig syscall.Signal) {
	if p.Alive() {
		unix.Kill(p.Pid, sig)
	}
}

// stop sends SIGTERM and waits up to grace for the process to end, then
// kills it. It reports whether the process had to be killed.
func (p Proc) stop(ctx context.Context, grace time.Duration) (killed bool) {
	p.signal(unix.SIGTERM)
	if p.wait(ctx, grace) {
		return false
	}
	p.signal(unix.SIGKILL)
	p.wait(context.WithoutCancel(ctx), 5*time.Second)
	return true
}

// wait polls until the process is gone or d has passed, and reports
// whether it is gone.
func (p Proc) wait(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for p.Alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// procStat returns a process's state letter and start time from
// /proc/<pid>/stat.
func procStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64) // field 22 of stat(5)
	return f[0][0], start, err
}

// netnsEntry is the hidden entry point that joins a network namespace and
// executes a program in it: `<entry> NETNS PROGRAM ARGS...`. It joins the
// network namespace only, unlike `ip netns exec`, which also remounts
// /sys and so hides /sys/fs/cgroup from the node agent.
const netnsEntry = "orbis-testbed-netns"

func init() { reexec.Register(netnsEntry, enterNetns) }

// enterNetns joins the network namespace named by os.Args[1] on a locked
// thread and executes os.Args[2:] from it: execve keeps only the calling
// thread, so the program starts wholly inside the namespace.
func enterNetns() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, netnsEntry+": usage: NETNS PROGRAM ARGS...")
		os.Exit(2)
	}
	runtime.LockOSThread()
	if err := joinNetns(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, netnsEntry+":", err)
		os.Exit(1)
	}
	err := unix.Exec(os.Args[2], os.Args[2:], os.Environ())
	fmt.Fprintln(os.Stderr, netnsEntry+": exec:", err)
	os.Exit(1)
}

// joinNetns moves the calling thread into the network namespace at path.
func joinNetns(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	return nil
}

// startDetached starts bin with args in a session of its own, its output
// appended to logPath, joined to the network namespace at netns if that
// is not empty. The process outlives the caller; the caller reaps it if
// it lives long enough.
func startDetached(bin string, args []string, netns, logPath string) (Proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return Proc{}, fmt.Errorf("open log: %w", err)
	}
	defer log.Close()
	argv := append([]string{"orbis"}, args...)
	cmd := &exec.Cmd{Path: bin, Args: argv, Stdout: log, Stderr: log}
	if netns != "" {
		cmd.Args = append([]string{netnsEntry, netns, bin}, args...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Proc{}, fmt.Errorf("start %s: %w", bin, err)
	}
	_, start, err := procStat(cmd.Process.Pid)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return Proc{}, fmt.Errorf("start %s: %w", bin, err)
	}
	go cmd.Wait() // reap it, should it end while we run
	return Proc{Pid: cmd.Process.Pid, Start: start}, nil
}

// errExited is returned when a process ends while it is awaited.
var errExited = errors.New("exited")

// waitReady polls ready until it succeeds, the process ends, or ctx or
// timeout ends; the error ends with the last line of the log.
func waitReady(ctx context.Context, p Proc, logPath string, timeout time.Duration, ready func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		if !p.Alive() {
			return fmt.Errorf("%w: %s", errExited, lastLine(logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v (log: %s)", timeout, last, logPath)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lastLine returns the last non-empty line of a log file.
func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return fmt.Sprintf("%s (log: %s)", lines[len(lines)-1], path)
}
