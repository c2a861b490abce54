package rawfd

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp user-notification ABI (linux/seccomp.h) that x/sys/unix
// does not spell out.
const (
	ioctlNotifIDValid = 0x40082102 // _IOW('!', 2, __u64)
	ioctlNotifAddFD   = 0x40182103 // _IOW('!', 3, struct seccomp_notif_addfd)
)

// notif is struct seccomp_notif.
type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Nr    int32
	Arch  uint32
	IP    uint64
	Args  [6]uint64
}

// notifResp is struct seccomp_notif_resp.
type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// notifAddFD is struct seccomp_notif_addfd.
type notifAddFD struct {
	ID         uint64
	Flags      uint32
	SrcFD      uint32
	NewFD      uint32
	NewFDFlags uint32
}

// listener is a seccomp listener read through the runtime's poller.
type listener struct {
	f *os.File
}

// newListener takes f over (it is closed) and returns it as a listener.
func newListener(f *os.File) (*listener, error) {
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("seccomp listener: dup: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("seccomp listener: %w", err)
	}
	// A File of a non-blocking fd is registered with the poller.
	return &listener{f: os.NewFile(uintptr(fd), "seccomp-listener")}, nil
}

// errHangup says the listener's filter has no task left: the sliver's
// init and every process of it have exited.
var errHangup = errors.New("seccomp listener: no task left")

// recv waits for the next notification.
func (l *listener) recv() (notif, error) {
	var n notif
	rc, err := l.f.SyscallConn()
	if err != nil {
		return n, err
	}
	var rerr error
	for {
		err = rc.Read(func(fd uintptr) bool {
			n, rerr = take(fd)
			return rerr != errNone
		})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, os.ErrClosed) {
			// The poller's only other error: epoll reported EPOLLERR
			// alone, which the listener's poll returns when a signal
			// interrupts it taking its lock; the poller keeps saying
			// so until the fd's next event. Wait on the fd directly.
			err = rc.Control(func(fd uintptr) {
				unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
				n, rerr = take(fd)
			})
			if err == nil && rerr == errNone {
				continue
			}
		}
		if err != nil {
			return n, err
		}
		return n, rerr
	}
}

// errNone says take found no notification pending.
var errNone = errors.New("no notification pending")

// take receives the pending notification, if any. It polls until
// the answer is sure: a poll interrupted by a signal, or a listener's
// poll interrupted taking its lock (POLLERR alone), or a caller gone
// before its notification was received says nothing, and an event the
// runtime's edge-triggered poller has consumed does not come again.
func take(fd uintptr) (notif, error) {
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 0); err == unix.EINTR {
			continue
		} else if err != nil {
			return notif{}, fmt.Errorf("seccomp listener: poll: %w", err)
		}
		switch {
		case pfd[0].Revents&unix.POLLIN != 0:
		case pfd[0].Revents&unix.POLLHUP != 0:
			return notif{}, errHangup
		case pfd[0].Revents&unix.POLLERR != 0:
			continue
		default:
			return notif{}, errNone
		}
		var n notif
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.SECCOMP_IOCTL_NOTIF_RECV, uintptr(unsafe.Pointer(&n)))
		switch errno {
		case 0:
			return n, nil
		case unix.EINTR, unix.ENOENT, unix.EAGAIN:
			// ENOENT: the caller went away between poll and recv.
			continue
		default:
			return notif{}, fmt.Errorf("seccomp notification: %w", errno)
		}
	}
}

// valid reports whether the notification is still pending: its caller
// is still in the system call.
func (l *listener) valid(id uint64) bool {
	return l.ioctl(ioctlNotifIDValid, unsafe.Pointer(&id)) == nil
}

// fail answers the notification with errno.
func (l *listener) fail(id uint64, errno unix.Errno) error {
	r := notifResp{ID: id, Error: -int32(errno)}
	return l.ioctl(unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// refuse fails the notification with err's errno (EPERM if it has none)
// and returns err.
func (l *listener) refuse(id uint64, err error) error {
	errno := unix.EPERM
	errors.As(err, &errno)
	if ferr := l.fail(id, errno); ferr != nil && !errors.Is(ferr, unix.ENOENT) {
		return fmt.Errorf("%w (answer: %w)", err, ferr)
	}
	return err
}

// succeed answers the notification with the result val.
func (l *listener) succeed(id uint64, val int64) error {
	r := notifResp{ID: id, Val: val}
	return l.ioctl(unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&r))
}

// install puts fd into the caller as the result of its system call, in
// one step; cloexec sets close-on-exec on the caller's descriptor.
func (l *listener) install(id uint64, fd int, cloexec bool) error {
	a := notifAddFD{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, SrcFD: uint32(fd)}
	if cloexec {
		a.NewFDFlags = unix.O_CLOEXEC
	}
	return l.ioctl(ioctlNotifAddFD, unsafe.Pointer(&a))
}

func (l *listener) ioctl(req uintptr, arg unsafe.Pointer) error {
	rc, err := l.f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	err = rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

func (l *listener) close() error { return l.f.Close() }
