package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/reexec"
)

// A running sliver's init spends most of its life waiting for its
// commands to exit, and a Go runtime costs most of a megabyte of private
// memory while it waits: on a node of a thousand running slivers, a
// gigabyte. So once no request has come for idleAfter while commands run,
// the init executes the idle program (cmd/orbis-idle, a few pages of C) in
// its place, as the same process: pid 1, in the same namespaces, under the
// same confinement, which execve keeps (seccomp, Landlock, no_new_privs,
// the capabilities of the bounding set, rlimits). The idle program reaps
// children, reports the exits the host waits for, and executes the init
// again (serveEntry) when the host connects or no process is left. Both
// programs run from sealed memfds shared by the node's inits, which nobody
// in a sliver can read: the kernel makes a process that executes a file
// it cannot read undumpable at once, so the sliver's root can never
// ptrace either form, nor open its /proc files, not even between the
// execve and the PR_SET_DUMPABLE that each form makes first.

// serveEntry is the init's entry point when the idle program hands back.
const serveEntry = "orbis-sandbox-serve"

// idleEntry is the idle program's argv[0].
const idleEntry = "orbis-idle"

// idleAfter is how long the init waits for another request, while
// commands run, before it turns idle: a few requests in a row (a user's
// commands after the boot script) find it serving.
const idleAfter = 200 * time.Millisecond

// maxIdleWaiting bounds the commands an init hands to the idle program
// (its MAX_WAITING): with more, it stays as it is.
const maxIdleWaiting = 4096

func init() { reexec.Register(serveEntry, serveMain) }

// idleProgramHeld reports whether the host passed the init a sealed
// memfd of the idle program (a node without one keeps its inits in Go).
func idleProgramHeld() bool {
	var st unix.Stat_t
	return unix.Fstat(idleProgFD, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size > 0
}

// serveMain is the init again, executed by the idle program: already
// confined, it takes back the control socket, the seccomp listener and
// the commands that the host waits for, and serves.
func serveMain() {
	runtime.LockOSThread()
	if err := prctl(unix.PR_SET_DUMPABLE, 0); err != nil {
		os.Exit(1)
	}
	// The idle program passes on the state without close-on-exec:
	// none of it may reach the sliver's commands.
	cloexecFrom(initBootFD)
	st, err := parseIdleArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rawListener = st.raw
	s, err := newServer(st.ctl, st.linger)
	if err != nil {
		os.Exit(1)
	}
	for pid, fd := range st.waiting {
		conn, err := fileConn(fd)
		if err != nil {
			continue
		}
		s.waiting[pid] = conn
	}
	os.Exit(s.run())
}

// idleState is what the init and the idle program hand each other.
type idleState struct {
	linger  time.Duration
	ctl     int
	raw     int
	waiting map[int]int // pid -> fd of the connection waiting for it
}

// args is the command line of either form after argv[0]: LINGER CTL RAW
// INIT IDLE and a PID:FD for each command waited for (parseIdleArgs).
func (st *idleState) args() []string {
	args := []string{strconv.FormatInt(int64(st.linger), 10), strconv.Itoa(st.ctl),
		strconv.Itoa(st.raw), strconv.Itoa(initProgFD), strconv.Itoa(idleProgFD)}
	for pid, fd := range st.waiting {
		args = append(args, fmt.Sprintf("%d:%d", pid, fd))
	}
	return args
}

func parseIdleArgs(args []string) (*idleState, error) {
	bad := fmt.Errorf("init: malformed state %q", args)
	if len(args) < 5 || args[3] != strconv.Itoa(initProgFD) || args[4] != strconv.Itoa(idleProgFD) {
		return nil, bad
	}
	st := &idleState{waiting: map[int]int{}}
	linger, err1 := strconv.ParseInt(args[0], 10, 64)
	ctl, err2 := strconv.Atoi(args[1])
	raw, err3 := strconv.Atoi(args[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, bad
	}
	st.linger, st.ctl, st.raw = time.Duration(linger), ctl, raw
	for _, a := range args[5:] {
		p, f, ok := strings.Cut(a, ":")
		pid, err1 := strconv.Atoi(p)
		fd, err2 := strconv.Atoi(f)
		if !ok || err1 != nil || err2 != nil {
			return nil, bad
		}
		st.waiting[pid] = fd
	}
	return st, nil
}

// goIdle executes the idle program in the init's place, unless a request
// is on its way (then it returns, and the init serves it first).
func (s *server) goIdle() {
	if len(s.waiting) > maxIdleWaiting {
		return
	}
	// Stop accepting: a connection the kernel queues from now on waits
	// in the listener for the idle program, which hands it back.
	s.ln.SetDeadline(time.Unix(1, 0))
	<-s.acceptDone
	defer func() {
		s.ln.SetDeadline(time.Time{})
		s.startAccept()
	}()
	if s.pending.Load() != 0 {
		return
	}
	st := &idleState{linger: s.linger, ctl: sysFD(s.ln), raw: rawListener, waiting: map[int]int{}}
	keep := []int{st.ctl, initProgFD, idleProgFD}
	if st.raw >= 0 {
		keep = append(keep, st.raw)
	}
	for pid, conn := range s.waiting {
		st.waiting[pid] = sysFD(conn)
		keep = append(keep, st.waiting[pid])
	}
	for _, fd := range keep {
		if fd < 0 {
			return
		}
	}
	setCloexec(keep, false)
	// Exec fails only on a broken node (the memfd is sealed and held):
	// then this init stays as it is.
	syscall.Exec(fmt.Sprintf("/proc/self/fd/%d", idleProgFD), append([]string{idleEntry}, st.args()...), os.Environ())
	setCloexec(keep, true)
}

// sysFD returns the file descriptor of a socket, or -1.
func sysFD(c syscall.Conn) int {
	fd := -1
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

func setCloexec(fds []int, on bool) {
	for _, fd := range fds {
		if on {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		} else {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
		}
	}
}
