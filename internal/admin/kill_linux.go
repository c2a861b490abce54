package admin

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
)

// Kill sends a signal to one process of the node through a pidfd, so that
// the process checked is the process signalled: the pidfd is opened
// first, and the process read after it must still be the one the caller
// listed (req.StartTicks) — a PID recycled in between is refused. PID 1,
// the node agent and kernel threads are refused. An admin slice (a caller
// with a slice) signals slivers' processes only: a host process (another
// node's agent, a daemon, root's shell) is refused to it.
func (s *Service) Kill(c Caller, req api.AdminKillRequest) (api.AdminKillResponse, error) {
	sig, err := parseSignal(req.Signal)
	if err != nil {
		return api.AdminKillResponse{}, err
	}
	switch {
	case req.PID <= 0:
		return api.AdminKillResponse{}, errorf(http.StatusBadRequest, "pid %d: want a positive PID", req.PID)
	case req.PID == 1:
		return api.AdminKillResponse{}, errorf(http.StatusForbidden, "pid 1 is the node's init: refused")
	case req.PID == s.cfg.Self:
		return api.AdminKillResponse{}, errorf(http.StatusForbidden, "pid %d is the node agent: refused", req.PID)
	}
	fd, err := unix.PidfdOpen(req.PID, 0)
	if err != nil {
		return api.AdminKillResponse{}, noProcess(req.PID, err)
	}
	defer unix.Close(fd)
	p, err := s.readProcess(req.PID, bootTime(s.cfg.ProcRoot))
	if err != nil {
		return api.AdminKillResponse{}, noProcess(req.PID, err)
	}
	if err := s.checkTarget(c, p, req.StartTicks); err != nil {
		return api.AdminKillResponse{}, err
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return api.AdminKillResponse{}, noProcess(req.PID, err)
	}
	name := unix.SignalName(sig)
	if name == "" {
		name = strconv.Itoa(int(sig))
	}
	return api.AdminKillResponse{PID: req.PID, Signal: name, Slice: p.Slice, Command: p.Command}, nil
}

// checkTarget refuses kernel threads, a host process to an admin slice,
// and a process that is not the one listed (when startTicks is given).
func (s *Service) checkTarget(c Caller, p process, startTicks uint64) error {
	if p.kthread {
		return errorf(http.StatusForbidden, "pid %d is a kernel thread %s: refused", p.PID, p.Command)
	}
	if !c.mayTouch(p) {
		return errorf(http.StatusForbidden, "pid %d is not a sliver's process: an admin slice signals slivers' processes only", p.PID)
	}
	if startTicks != 0 && p.StartTicks != startTicks {
		return errorf(http.StatusConflict, "pid %d is now another process (%s, started at tick %d, not %d): not signalled",
			p.PID, p.Command, p.StartTicks, startTicks)
	}
	return nil
}

// noProcess is the error for a process that does not exist (any more).
func noProcess(pid int, err error) error {
	if errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) {
		return errorf(http.StatusNotFound, "pid %d: no such process", pid)
	}
	return fmt.Errorf("signal pid %d: %w", pid, err)
}

// parseSignal reads "TERM", "SIGKILL", "9" or "" (TERM).
func parseSignal(s string) (unix.Signal, error) {
	if s == "" {
		return unix.SIGTERM, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errorf(http.StatusBadRequest, "signal %d: want 1 to 64", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errorf(http.StatusBadRequest, "signal %q: unknown (e.g. TERM, KILL, HUP, 9)", s)
}
