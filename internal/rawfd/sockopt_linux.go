package rawfd

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// answerSetsockopt answers a sliver's setsockopt(SOL_IP, IP_RECVERR) or
// (SOL_IPV6, IPV6_RECVERR), which its seccomp filter hands over
// (internal/sandbox): the kernel queues on a raw socket's error queue the
// ICMP errors about every packet of its protocol whose addresses match,
// whoever sent it, past the socket's receive filter; so on a raw socket
// the call succeeds and does nothing. On any other socket (traceroute's
// UDP, tracepath's ping socket) the Server sets it itself, on the socket
// it checked: the caller cannot swap another in between.
func (s *Server) answerSetsockopt(_ Slice, l *listener, n *notif) error {
	val, err := s.setRecvErr(l, n)
	if err != nil {
		return l.refuse(n.ID, err)
	}
	if err := l.succeed(n.ID, val); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("setsockopt: answer: %w", err)
	}
	return nil
}

// setRecvErr does the call of n on the caller's socket, unless it is raw.
func (s *Server) setRecvErr(l *listener, n *notif) (int64, error) {
	fd, level, opt := int(int32(n.Args[0])), int(int32(n.Args[1])), int(int32(n.Args[2]))
	switch {
	case n.Arch != auditArch || n.Nr != unix.SYS_SETSOCKOPT:
		return 0, fmt.Errorf("not setsockopt(): %w", unix.EPERM)
	case !(level == unix.SOL_IP && opt == unix.IP_RECVERR || level == unix.SOL_IPV6 && opt == unix.IPV6_RECVERR):
		return 0, fmt.Errorf("setsockopt(%d, %d): %w", level, opt, unix.EPERM)
	}
	sock, err := callerFD(l, n, fd)
	if err != nil {
		return 0, err
	}
	defer unix.Close(sock)
	typ, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return 0, fmt.Errorf("setsockopt: SO_TYPE: %w", err)
	}
	if typ == unix.SOCK_RAW {
		// Accepted, with no effect: traceroute -I and -T give up when
		// the call fails, and read the ICMP errors about their own
		// probes as packets anyway, which the receive filter admits
		// (conntrack relates them to the slice's flow).
		s.cfg.Log.Debug("raw sockets: IP_RECVERR on a raw socket ignored", "pid", n.Pid)
		return 0, nil
	}
	// The option's value, as the kernel reads it: an int, or one byte
	// when optlen is shorter.
	optlen := int(int32(n.Args[4]))
	buf := make([]byte, min(max(optlen, 0), 4))
	if len(buf) > 0 {
		if err := readCaller(l, n, n.Args[3], buf); err != nil {
			return 0, err
		}
	}
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	if _, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(sock), uintptr(level), uintptr(opt), uintptr(p), uintptr(len(buf)), 0); errno != 0 {
		return 0, fmt.Errorf("setsockopt(%d, %d): %w", level, opt, errno)
	}
	return 0, nil
}

// callerFD is a copy of descriptor fd of the notification's caller, taken
// while the notification is still pending (so that its pid is still the
// caller's).
func callerFD(l *listener, n *notif, fd int) (int, error) {
	// The caller may be any thread: a pidfd names a process (its thread
	// group leader), whose descriptor table the threads share.
	tgid, err := threadGroup(n.Pid)
	if err != nil {
		return -1, fmt.Errorf("caller gone: %w", unix.ESRCH)
	}
	pidfd, err := unix.PidfdOpen(tgid, 0)
	if err != nil {
		return -1, fmt.Errorf("caller gone: %w", unix.ESRCH)
	}
	defer unix.Close(pidfd)
	// Pending, the caller still exists: tid and tgid were its own.
	if !l.valid(n.ID) {
		return -1, fmt.Errorf("caller gone: %w", unix.ESRCH)
	}
	sock, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		if errors.Is(err, unix.EBADF) {
			return -1, fmt.Errorf("setsockopt: fd %d: %w", fd, unix.EBADF)
		}
		return -1, fmt.Errorf("setsockopt: get fd %d: %w", fd, unix.EPERM)
	}
	return sock, nil
}

// threadGroup is the process (thread group) of thread tid.
func threadGroup(tid uint32) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no Tgid", tid)
}
