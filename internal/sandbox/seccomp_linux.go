package sandbox

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter of every sliver process. Most of what it denies
// already needs a capability the sliver lacks in the initial user
// namespace; the filter keeps those kernel paths out of reach anyway, and
// adds what capabilities do not cover:
//   - module loading, kexec, reboot, swap, clock setting, accounting, quotas;
//   - the mount API (the sliver has no CAP_SYS_ADMIN; no new mounts at all);
//   - setns, and unshare or clone with CLONE_NEWUSER: a nested user namespace
//     would give back every capability there and opens much kernel attack
//     surface, and PlanetLab slivers never had nested containers;
//   - clone3 (its flags cannot be inspected) fails with ENOSYS, so libc and
//     Go fall back to clone, as under Docker;
//   - bpf, perf_event_open, userfaultfd, io_uring, the keyring calls,
//     open_by_handle_at: common kernel exploit paths;
//   - system calls of another ABI (x32, i386 on amd64) kill the process.
//
// Denied calls fail with EPERM.
//
// With rawNotify, socket(AF_INET or AF_INET6, SOCK_RAW, proto) is not
// denied but handed to the filter's listener (SECCOMP_RET_USER_NOTIF):
// the node agent, which holds the listener, creates a confined raw socket
// and installs it in the caller as the call's result (Config.RawSockets).
// The init keeps a copy of the listener, so while no agent answers, the
// call waits. setsockopt(SOL_IP, IP_RECVERR) and (SOL_IPV6, IPV6_RECVERR)
// go to the listener too: on a raw socket the error queue would hold the
// ICMP errors about every packet of its protocol, whoever sent it, so the
// agent refuses them there and sets them itself on any other socket
// (traceroute and tracepath use them on UDP and ping sockets).
// socket(AF_PACKET) and setsockopt(SOL_PACKET) go there too: the agent
// makes receive-only packet sockets confined to the slice's traffic and
// checks their options (internal/rawfd).

// loadSeccomp installs the filter on every thread (TSYNC), which also sets
// no_new_privs on every thread. With rawNotify it returns the filter's
// listener, close-on-exec; else -1.
//
// A call waiting for the listener's answer is interrupted by any signal
// and restarted once the handler returns, as a new notification: the
// answer to the first is lost. Go programs get a signal every 10 ms
// while in a raw system call (the runtime's preemption, SIGURG), so an
// answer that takes longer would never arrive. Since Linux 5.19 the
// wait can become killable once the agent has received the call
// (SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV), which the filter asks for
// unless interruptible; before, the agent's answers must outrun the
// signals (internal/rawfd keeps a restarted call's socket for it).
func loadSeccomp(rawNotify, interruptible bool) (listener int, err error) {
	prog, err := seccompProgram(rawNotify)
	if err != nil {
		return -1, err
	}
	flags := uintptr(unix.SECCOMP_FILTER_FLAG_TSYNC)
	if rawNotify {
		// TSYNC_ESRCH lets TSYNC and NEW_LISTENER go together: the
		// result is then the listener, and a thread that could not be
		// synchronised is ESRCH.
		flags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	load := func(flags uintptr) (uintptr, unix.Errno) {
		r, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
			flags, uintptr(unsafe.Pointer(&fprog)))
		return r, errno
	}
	r, errno := uintptr(0), unix.EINVAL
	if rawNotify && !interruptible {
		r, errno = load(flags | unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
	}
	if errno == unix.EINVAL { // a kernel before 5.19: no such flag
		r, errno = load(flags)
	}
	if errno != 0 {
		return -1, fmt.Errorf("load seccomp filter: %w", errno)
	}
	if rawNotify {
		return int(r), nil
	}
	if r != 0 {
		return -1, fmt.Errorf("load seccomp filter: thread %d could not be synchronised", r)
	}
	return -1, nil
}

const (
	bpfLdAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeq    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJge    = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfJset   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfRet    = unix.BPF_RET | unix.BPF_K
	offNr     = 0
	offArch   = 4
	offArg0Lo = 16 // args[0], low 32 bits (little-endian)
	offArg1Lo = 24 // args[1], low 32 bits
	offArg2Lo = 32 // args[2], low 32 bits
	bpfAnd    = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	// sockTypeMask takes SOCK_NONBLOCK and SOCK_CLOEXEC off socket()'s
	// type.
	sockTypeMask = 0xf
)

func bpfStmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func bpfJump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf}
}

// seccompProgram returns the classic BPF program of the filter for this
// architecture.
func seccompProgram(rawNotify bool) ([]unix.SockFilter, error) {
	if auditArch == 0 {
		return nil, errors.New("seccomp: no filter for this architecture")
	}
	stmt, jump := bpfStmt, bpfJump
	eperm := stmt(bpfRet, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))
	allow := stmt(bpfRet, unix.SECCOMP_RET_ALLOW)
	p := []unix.SockFilter{
		stmt(bpfLdAbs, offArch),
		jump(bpfJeq, auditArch, 1, 0),
		stmt(bpfRet, unix.SECCOMP_RET_KILL_PROCESS),
		stmt(bpfLdAbs, offNr),
	}
	if foreignABIBit != 0 {
		p = append(p, jump(bpfJge, foreignABIBit, 0, 1), stmt(bpfRet, unix.SECCOMP_RET_KILL_PROCESS))
	}
	if rawNotify {
		p = append(p, rawSocketRule()...)
		p = append(p, recvErrRule()...)
	}
	for _, nr := range deniedSyscalls {
		p = append(p, jump(bpfJeq, uint32(nr), 0, 1), eperm)
	}
	p = append(p, jump(bpfJeq, unix.SYS_CLONE3, 0, 1), stmt(bpfRet, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS)))
	for _, nr := range []uint32{unix.SYS_UNSHARE, unix.SYS_CLONE} {
		p = append(p,
			jump(bpfJeq, nr, 0, 4),
			stmt(bpfLdAbs, offArg0Lo),
			jump(bpfJset, unix.CLONE_NEWUSER, 0, 1),
			eperm,
			allow,
		)
	}
	return append(p, allow), nil
}

// rawSocketRule sends socket(AF_INET or AF_INET6, SOCK_RAW, any) and
// socket(AF_PACKET, any, any) to the listener and lets every other
// socket() through; it expects the system call number in the accumulator
// and leaves it there for the next rule.
func rawSocketRule() []unix.SockFilter {
	stmt, jump := bpfStmt, bpfJump
	return []unix.SockFilter{
		jump(bpfJeq, unix.SYS_SOCKET, 0, 9),
		stmt(bpfLdAbs, offArg0Lo),
		jump(bpfJeq, unix.AF_PACKET, 5, 0),
		jump(bpfJeq, unix.AF_INET, 1, 0),
		jump(bpfJeq, unix.AF_INET6, 0, 4),
		stmt(bpfLdAbs, offArg1Lo),
		stmt(bpfAnd, sockTypeMask),
		jump(bpfJeq, unix.SOCK_RAW, 0, 1),
		stmt(bpfRet, unix.SECCOMP_RET_USER_NOTIF),
		stmt(bpfRet, unix.SECCOMP_RET_ALLOW),
	}
}

// recvErrRule sends setsockopt(fd, SOL_IP, IP_RECVERR), (fd, SOL_IPV6,
// IPV6_RECVERR) and (fd, SOL_PACKET, any) to the listener and lets every
// other setsockopt() through; it expects the system call number in the
// accumulator and leaves it there for the next rule. The kernel reads
// level and optname as ints: only their low 32 bits count.
func recvErrRule() []unix.SockFilter {
	stmt, jump := bpfStmt, bpfJump
	return []unix.SockFilter{
		jump(bpfJeq, unix.SYS_SETSOCKOPT, 0, 10),
		stmt(bpfLdAbs, offArg1Lo),
		jump(bpfJeq, unix.SOL_PACKET, 7, 0),
		jump(bpfJeq, unix.SOL_IP, 0, 2),
		stmt(bpfLdAbs, offArg2Lo),
		jump(bpfJeq, unix.IP_RECVERR, 4, 3),
		jump(bpfJeq, unix.SOL_IPV6, 0, 2),
		stmt(bpfLdAbs, offArg2Lo),
		jump(bpfJeq, unix.IPV6_RECVERR, 1, 0),
		stmt(bpfRet, unix.SECCOMP_RET_ALLOW),
		stmt(bpfRet, unix.SECCOMP_RET_USER_NOTIF),
	}
}

// commonDenied are the denied system calls that every architecture has.
var commonDenied = []int{
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_INIT_MODULE,
	unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE, unix.SYS_REBOOT,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_SETTIMEOFDAY,
	unix.SYS_CLOCK_SETTIME, unix.SYS_CLOCK_ADJTIME, unix.SYS_ACCT,
	unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD, unix.SYS_NFSSERVCTL,
	unix.SYS_LOOKUP_DCOOKIE, unix.SYS_VHANGUP, unix.SYS_SYSLOG,
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	unix.SYS_PERF_EVENT_OPEN, unix.SYS_BPF, unix.SYS_USERFAULTFD,
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_SETNS,
	unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
	unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_MOUNT_SETATTR,
}

// RawNotifySupported reports whether this kernel can hand a sliver's raw
// socket() calls to the node (Config.RawSockets): the listener must be
// able to install a socket as the call's result in one step
// (SECCOMP_ADDFD_FLAG_SEND), which Linux has since 5.14.
func RawNotifySupported() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 14)
}

// kernelAtLeast reports whether a release such as "6.1.0-18-amd64" is
// major.minor or later.
func kernelAtLeast(release string, major, minor int) bool {
	var ma, mi int
	if n, _ := fmt.Sscanf(release, "%d.%d", &ma, &mi); n != 2 {
		return false
	}
	return ma > major || ma == major && mi >= minor
}
