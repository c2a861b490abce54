package sandbox

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// keptCaps is the sliver root's capability set, Docker's default without
// MKNOD and NET_RAW: what cannot hurt the node from inside a user
// namespace. Everything else is dropped from every set.
var keptCaps = []uint{
	unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE, unix.CAP_FOWNER, unix.CAP_FSETID,
	unix.CAP_KILL, unix.CAP_SETGID, unix.CAP_SETUID, unix.CAP_SETPCAP,
	unix.CAP_NET_BIND_SERVICE, unix.CAP_SYS_CHROOT, unix.CAP_AUDIT_WRITE,
	unix.CAP_SETFCAP,
}

// KeptCaps returns the capability mask (bit n = capability n) that a root
// process in a sliver has.
func KeptCaps() uint64 {
	var m uint64
	for _, c := range keptCaps {
		m |= 1 << c
	}
	return m
}

// confine applies rlimits, makes the init undumpable (so the sliver cannot
// ptrace it or open its /proc files), drops capabilities, sets
// no_new_privs, scopes abstract Unix sockets to the sliver (Landlock, on
// the calling thread only) and loads the seccomp filter. The init's
// children inherit all of it. Capabilities are per thread: they are
// dropped on the calling thread, which initMain locked and from which
// every child forks, and on every thread when the runtime allows it (no
// cgo), the bounding set excepted (dropCaps). With rawNotify it returns the seccomp filter's listener
// (loadSeccomp), else -1.
func confine(rlimits []Rlimit, rawNotify, interruptible bool) (listener int, err error) {
	for _, r := range rlimits {
		// syscall.Setrlimit, not unix: it also stops the runtime from
		// restoring its start-up RLIMIT_NOFILE in children.
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return -1, fmt.Errorf("setrlimit %d: %w", r.Resource, err)
		}
	}
	if err := prctl(unix.PR_SET_DUMPABLE, 0); err != nil {
		return -1, fmt.Errorf("set undumpable: %w", err)
	}
	if err := dropCaps(); err != nil {
		return -1, err
	}
	if err := prctl(unix.PR_SET_NO_NEW_PRIVS, 1); err != nil {
		return -1, fmt.Errorf("set no_new_privs: %w", err)
	}
	if err := scopeAbstractSockets(); err != nil {
		return -1, err
	}
	return loadSeccomp(rawNotify, interruptible)
}

// dropCaps drops from every thread's effective, permitted and ambient sets
// every capability not kept, and from the bounding set of the calling
// thread. The bounding set counts only at execve, which no thread of the
// init but the calling one makes (spawnChild forks from it, goIdle
// executes from it, and both the init's cgroup namespace and Landlock
// domain are that thread's alone): one pass there, where every thread
// would cost a stop-the-world a capability, most of a millisecond of each
// sliver start.
func dropCaps() error {
	keep := KeptCaps()
	for c := uintptr(0); c < 64; c++ {
		if _, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, c, 0, 0, 0); err != nil {
			break // past the kernel's last capability
		}
		if keep&(1<<c) == 0 {
			if _, _, errno := syscall.RawSyscall(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0); errno != 0 {
				return fmt.Errorf("drop capability %d from bounding set: %w", c, errno)
			}
		}
	}
	if err := prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(keep), Permitted: uint32(keep)},
		{Effective: uint32(keep >> 32), Permitted: uint32(keep >> 32)},
	}
	if err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0]))); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// prctl runs a two-argument prctl on every thread, or this one.
func prctl(option, arg uintptr) error {
	return allThreads(unix.SYS_PRCTL, option, arg)
}

// allThreads makes a system call on every thread of the runtime if it can
// (not with cgo), else on the calling thread only.
func allThreads(trap, a1, a2 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, 0)
	if errno == syscall.ENOTSUP {
		_, _, errno = syscall.RawSyscall(trap, a1, a2, 0)
	}
	if errno != 0 {
		return errno
	}
	return nil
}
