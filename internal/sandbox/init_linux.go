package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/reexec"
)

// initEntry is the hidden entry point of a sliver's init.
const initEntry = "orbis-sandbox-init"

func init() { reexec.Register(initEntry, initMain) }

// The init's fds, as startInit passes them.
const (
	initBootFD = 3 // SOCK_SEQPACKET to the host that started it
	initCtlFD  = 4 // listening control socket
	initProgFD = 5 // sealed memfd of the init program (this one)
	idleProgFD = 6 // sealed memfd of the idle program, if the node has one
)

// initMain is pid 1 of a sliver. It runs on one locked OS thread: the
// capabilities it drops are per thread, and every command forks from it.
func initMain() {
	runtime.LockOSThread()
	// os/exec passes on every fd the host process had without
	// close-on-exec (some inherited from whatever started it): none of them
	// may reach the sliver's commands.
	cloexecFrom(initCtlFD + 1)
	boot, err := fileConn(initBootFD)
	if err != nil {
		os.Exit(2)
	}
	linger, err := bootstrap(boot)
	if err != nil {
		send(boot, message{Error: err.Error()})
		os.Exit(1)
	}
	os.Exit(serve(boot, linger))
}

// bootstrap makes the sliver's cgroup namespace and root, and confines
// the init. Namespaces that unshare makes are the calling thread's: the
// init's is locked (initMain), and every command forks from it.
func bootstrap(boot *net.UnixConn) (linger time.Duration, err error) {
	m, fds, err := recv(boot)
	// Closes what is left of fds when it returns: the closeFDs below has
	// closed them and set fds to nil, and their numbers may hold other
	// files by then (the seccomp listener).
	defer func() { closeFDs(fds) }()
	if err != nil {
		return 0, err
	}
	if m.Setup == nil || len(fds) != setupFDs+len(m.Setup.Shares) {
		return 0, errors.New("init: malformed setup")
	}
	if m.Setup.Proto != protoVersion {
		return 0, fmt.Errorf("init: the init program speaks protocol %d, the host %d: install orbis-init from the same build as orbis", protoVersion, m.Setup.Proto)
	}
	// The host has put the init in the sliver's cgroups (bootInit): a
	// cgroup namespace rooted there shows the sliver "/" as its cgroup in
	// every hierarchy, and never the host's paths, which name the node's
	// groups and, through them, other slices.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return 0, fmt.Errorf("cgroup namespace: unshare: %w", err)
	}
	if err := makeRoot(m.Setup.Name, m.Setup.Shares, fds); err != nil {
		return 0, err
	}
	closeFDs(fds)
	fds = nil
	listener, err := confine(m.Setup.Rlimits, m.Setup.RawNotify, m.Setup.RawWaitInterruptible)
	if err != nil {
		return 0, err
	}
	if listener < 0 {
		return m.Setup.Linger, send(boot, message{OK: true})
	}
	// The listener goes to the host. The init keeps a copy for a host
	// that restarts (RawListener); no other process of the sliver gets
	// it (it is close-on-exec, and spawnChild passes only stdio), nor can
	// reach the init's (undumpable: no ptrace, /proc/1/fd, pidfd_getfd).
	rawListener = listener
	return m.Setup.Linger, send(boot, message{OK: true}, listener)
}

// rawListener is the init's copy of its seccomp listener, or -1.
var rawListener = -1

// request is a spawn request and the connection it came on.
type request struct {
	conn *net.UnixConn
	msg  message
	fds  []int
}

// server is the init serving the host: it spawns what the control socket
// asks for and reports each command's exit to whoever asked for it.
type server struct {
	ln      *net.UnixListener
	reqs    chan request
	waiting map[int]*net.UnixConn // pid -> who waits for its exit
	linger  time.Duration
	// pending counts connections accepted and not yet handled: the init
	// turns idle (goIdle) only without one.
	pending atomic.Int32
	// acceptDone is closed when the accepting goroutine has returned.
	acceptDone chan struct{}
}

// newServer serves the listening control socket ctl; ctl is closed.
func newServer(ctl int, linger time.Duration) (*server, error) {
	lnFile := os.NewFile(uintptr(ctl), "ctl")
	ln, err := net.FileListener(lnFile) // a close-on-exec dup
	lnFile.Close()
	if err != nil {
		return nil, err
	}
	return &server{ln: ln.(*net.UnixListener), reqs: make(chan request),
		waiting: map[int]*net.UnixConn{}, linger: linger}, nil
}

// serve spawns the first command (from boot), then serves.
func serve(boot *net.UnixConn, linger time.Duration) int {
	s, err := newServer(initCtlFD, linger)
	if err != nil {
		return 1
	}
	m, fds, err := recv(boot)
	if err != nil {
		return 1
	}
	s.handle(request{boot, m, fds})
	return s.run()
}

// run reaps every child (orphans too: the init is pid 1), handles what the
// control socket asks for, and returns when the init has had no child for
// linger: then the sliver is idle and holds no process. When no request
// has come for idleAfter while commands run, it executes the idle form of
// the init in its place (goIdle), which comes back here on the next.
func (s *server) run() int {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, syscall.SIGCHLD)
	s.startAccept()
	var idle <-chan time.Time
	timer := time.NewTimer(idleAfter)
	if idleProgramHeld() {
		idle = timer.C
	}
	for {
		if !reap(s.waiting) && !s.lingered() {
			break
		}
		if idle == nil {
			// Give back what the request took: this init stays in
			// memory as long as the sliver runs.
			debug.FreeOSMemory()
		}
		select {
		case <-sigchld:
		case r := <-s.reqs:
			s.pending.Add(-1)
			s.handle(r)
			timer.Reset(idleAfter)
		case <-idle:
			s.goIdle()
			timer.Reset(idleAfter)
		}
	}
	// Idle. Refuse what is queued: the host starts a new init for it.
	s.ln.Close()
	for {
		select {
		case r := <-s.reqs:
			s.pending.Add(-1)
			closeFDs(r.fds)
			r.conn.Close()
		default:
			return 0
		}
	}
}

// lingered waits up to linger for a request when the init has no child
// left, handles it if one comes, and reports whether one came: a command
// that follows closely (as `orbis sliver exec` after the boot script) then
// needs no new init.
func (s *server) lingered() bool {
	if s.linger <= 0 {
		return false
	}
	t := time.NewTimer(s.linger)
	defer t.Stop()
	select {
	case r := <-s.reqs:
		s.pending.Add(-1)
		s.handle(r)
		return true
	case <-t.C:
		return false
	}
}

// startAccept starts reading one spawn request from each connection to
// the control socket. Only host root can connect: the socket is in a
// root-only directory outside the sliver's root.
func (s *server) startAccept() {
	s.acceptDone = make(chan struct{})
	go func() {
		defer close(s.acceptDone)
		for {
			conn, err := s.ln.AcceptUnix()
			if err != nil {
				return
			}
			s.pending.Add(1)
			go s.read(conn)
		}
	}()
}

// read reads the request on conn and queues it.
func (s *server) read(conn *net.UnixConn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, fds, err := recv(conn)
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		s.pending.Add(-1)
		conn.Close()
		return
	}
	s.reqs <- request{conn, m, fds}
}

// reap collects every exited child and reports whether any is left.
func reap(waiting map[int]*net.UnixConn) bool {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil: // ECHILD
			return false
		case pid == 0:
			return true
		}
		if conn, ok := waiting[pid]; ok {
			status := uint32(ws)
			send(conn, message{Exit: &status})
			conn.Close()
			delete(waiting, pid)
		}
	}
}

// handle spawns one command and answers with its pidfd, and the master of
// its terminal if it asked for one; or it installs files (InstallFiles).
func (s *server) handle(r request) {
	defer closeFDs(r.fds)
	if r.msg.Install != nil {
		send(r.conn, handleInstall(r.msg.Install, r.fds))
		r.conn.Close()
		return
	}
	if r.msg.RawListener {
		if rawListener < 0 {
			send(r.conn, message{Error: "this sliver's raw socket() calls go to no listener"})
		} else {
			send(r.conn, message{OK: true}, rawListener)
		}
		r.conn.Close()
		return
	}
	pid, reply, err := spawnChild(r.msg.Spawn, r.fds)
	if err != nil {
		send(r.conn, message{Error: err.Error()})
		r.conn.Close()
		return
	}
	defer closeFDs(reply)
	s.waiting[pid] = r.conn
	send(r.conn, message{Pid: pid}, reply...)
}

// spawnChild forks and executes a command inside the sliver, with fds as
// its stdin, stdout and stderr, or on a new terminal. It returns the
// command's pid and the fds for the host: a pidfd of the command, and the
// terminal's master if it has one.
func spawnChild(s *spawnMsg, fds []int) (pid int, reply []int, err error) {
	if s == nil || len(s.Args) == 0 {
		return 0, nil, errors.New("malformed request")
	}
	defer func() {
		if err != nil {
			closeFDs(reply)
		}
	}()
	var files []uintptr
	switch {
	case s.Terminal != nil && len(fds) == 0:
		master, slave, err := openTerminal(s.Terminal)
		if err != nil {
			return 0, nil, err
		}
		defer unix.Close(slave)
		reply = append(reply, master)
		files = []uintptr{uintptr(slave), uintptr(slave), uintptr(slave)}
	case s.Terminal == nil && len(fds) == 3:
		files = []uintptr{uintptr(fds[0]), uintptr(fds[1]), uintptr(fds[2])}
	default:
		return 0, nil, errors.New("malformed request: stdio")
	}
	path, err := lookPath(s.Args[0], s.Env)
	if err != nil {
		return 0, reply, err
	}
	groups := make([]uint32, len(s.Groups))
	copy(groups, s.Groups)
	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   orDefault(s.Dir, "/"),
		Env:   s.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Setsid:     true,
			Setctty:    s.Terminal != nil,
			Ctty:       0,
			Credential: &syscall.Credential{Uid: s.UID, Gid: s.GID, Groups: groups},
			PidFD:      &pidfd,
		},
	}
	pid, err = syscall.ForkExec(path, s.Args, attr)
	if err != nil {
		return 0, reply, fmt.Errorf("exec %s: %w", s.Args[0], err)
	}
	return pid, append([]int{pidfd}, reply...), nil
}

// openTerminal opens a new pty on the sliver's own devpts, of size ws.
// The sliver can tamper with its /dev, but the init opening it is no
// mightier than the sliver's root, and the host checks the master it gets.
func openTerminal(ws *Winsize) (master, slave int, err error) {
	master, err = unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("open terminal: %w", err)
	}
	size := &unix.Winsize{Row: ws.Rows, Col: ws.Cols, Xpixel: ws.Width, Ypixel: ws.Height}
	if err = unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err == nil {
		err = unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, size)
	}
	if err == nil {
		// TIOCGPTPEER opens the slave without a path lookup the sliver
		// could redirect.
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
		if slave, err = int(r), nil; errno != 0 {
			err = errno
		}
	}
	if err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("open terminal: %w", err)
	}
	return master, slave, nil
}

// lookPath finds file in the PATH of env, inside the sliver.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + file
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec %s: not found in PATH", file)
}

// cloexecFrom marks every fd from first on close-on-exec.
func cloexecFrom(first int) {
	if unix.CloseRange(uint(first), ^uint(0), unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	ents, _ := os.ReadDir("/proc/self/fd") // kernels before 5.11
	for _, e := range ents {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd >= first {
			unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		}
	}
}
