package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Process is a command running in a sliver.
type Process struct {
	// Pid is the command's pid on the host (0 if it could not be learnt).
	Pid int

	terminal *os.File // master of the command's terminal, if it has one

	pidfd   int
	conn    *net.UnixConn
	stdin   *os.File       // host end of the stdin pipe, if any
	stdinR  io.Reader      // what to copy into it, once the command runs
	copies  sync.WaitGroup // stdout and stderr copying
	pending []outCopy      // copies to start once the command runs

	// pidMu guards pidfd, which Wait closes while Signal may use it.
	pidMu sync.Mutex

	waitOnce sync.Once
	code     int
	err      error
}

// Exec runs cmd in the sliver's running init's namespaces, as a child of
// that init: it inherits the init's cgroups, rlimits, dropped capabilities
// and seccomp filter. It returns ErrNotRunning if the sliver has no init
// (Start starts one). ctx bounds the start only, not the command's life.
func Exec(ctx context.Context, cfg Config, cmd Cmd, log *slog.Logger) (*Process, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cmd.validate(&cfg); err != nil {
		return nil, err
	}
	conn, err := dialInit(ctx, &cfg)
	if err != nil {
		return nil, err
	}
	p, err := spawn(ctx, conn, &cmd)
	if err != nil {
		conn.Close()
		return nil, err
	}
	log.Debug("sliver exec", "slice", cfg.Name, "args", cmd.Args, "pid", p.Pid)
	return p, nil
}

// dialInit connects to the sliver's init.
func dialInit(ctx context.Context, cfg *Config) (*net.UnixConn, error) {
	path := filepath.Join(cfg.RunDir, runCtl)
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ECONNREFUSED) {
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("connect to sliver init: %w", err)
	}
	return c.(*net.UnixConn), nil
}

// spawn asks the init at the other end of conn to start cmd.
func spawn(ctx context.Context, conn *net.UnixConn, cmd *Cmd) (_ *Process, err error) {
	p := &Process{pidfd: -1, conn: conn}
	child, err := p.plumb(cmd)
	defer closeFiles(child)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			p.abandon()
		}
	}()
	env := cmd.Env
	if env == nil {
		env = DefaultEnv
	}
	req := &spawnMsg{Args: cmd.Args, Env: env, Dir: cmd.Dir, UID: cmd.UID, GID: cmd.GID, Groups: cmd.Groups, Terminal: cmd.Terminal}
	fds := make([]int, len(child))
	for i, f := range child {
		fds[i] = int(f.Fd())
	}
	if err := send(conn, message{Spawn: req}, fds...); err != nil {
		if initGone(err) {
			return nil, ErrNotRunning
		}
		return nil, fmt.Errorf("spawn: %w", err)
	}
	closeFiles(child)
	child = nil
	m, got, err := recvCtx(ctx, conn)
	if initGone(err) {
		// The init went idle and exited before it read the request: it
		// answers every request it reads, so nothing was started.
		return nil, ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("spawn: %w", err)
	}
	want := 1
	if cmd.Terminal != nil {
		want = 2
	}
	if m.Error != "" || len(got) != want {
		closeFDs(got)
		return nil, fmt.Errorf("spawn %s: %s", cmd.Args[0], orDefault(m.Error, "malformed reply"))
	}
	p.pidfd = got[0]
	p.Pid = pidfdPid(p.pidfd)
	if cmd.Terminal != nil {
		if p.terminal, err = ptyMaster(got[1]); err != nil {
			return nil, fmt.Errorf("spawn %s: %w", cmd.Args[0], err)
		}
	}
	p.startCopies()
	return p, nil
}

// pidfdPid reads the host pid behind a pidfd.
func pidfdPid(pidfd int) int {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, _ := strconv.Atoi(strings.TrimSpace(v))
			return max(pid, 0)
		}
	}
	return 0
}

// Wait waits for the command to exit and for its output to be copied, and
// returns its exit code (128+n if killed by signal n).
func (p *Process) Wait() (int, error) {
	p.waitOnce.Do(func() {
		m, fds, err := recv(p.conn)
		closeFDs(fds)
		switch {
		case err != nil:
			p.code, p.err = -1, fmt.Errorf("wait: lost the sliver's init: %w", err)
		case m.Exit == nil:
			p.code, p.err = -1, fmt.Errorf("wait: malformed reply %q", m.Error)
		default:
			p.code = exitCode(syscall.WaitStatus(*m.Exit))
		}
		p.copies.Wait()
		p.abandon()
	})
	return p.code, p.err
}

// Terminal returns the master of the command's terminal, or nil if it has
// none (see Cmd.Terminal). The caller reads and writes it, resizes it with
// TIOCSWINSZ, and closes it when done: closing it hangs up the terminal.
func (p *Process) Terminal() *os.File { return p.terminal }

// ptyMaster checks that fd, sent by a sliver's init, is a pty master, and
// returns it as a file; fd is closed on error. The init is inside the
// sliver: what it sends is checked, not trusted.
func ptyMaster(fd int) (*os.File, error) {
	var st unix.Stat_t
	err := unix.Fstat(fd, &st)
	if err == nil && st.Mode&unix.S_IFMT != unix.S_IFCHR {
		err = errors.New("not a character device")
	}
	if err == nil {
		_, err = unix.IoctlGetUint32(fd, unix.TIOCGPTN) // masters only
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("terminal from the sliver: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("terminal from the sliver: %w", err)
	}
	return os.NewFile(uintptr(fd), "pty-master"), nil
}

// Signal sends sig to the command.
func (p *Process) Signal(sig syscall.Signal) error {
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	if p.pidfd < 0 {
		return errors.New("signal: process is gone")
	}
	if err := unix.PidfdSendSignal(p.pidfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	return nil
}

// SignalGroup sends sig to the command's process group: the init starts
// every command in a session of its own, so the command leads a group
// that holds its pipelines and other children. On Linux 6.9 and later it
// works until Wait returns; on older kernels only while the command has not
// exited, since its pid could then name some other process group.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	p.pidMu.Lock()
	defer p.pidMu.Unlock()
	if p.pidfd < 0 {
		return errors.New("signal group: process is gone")
	}
	err := unix.PidfdSendSignal(p.pidfd, sig, nil, unix.PIDFD_SIGNAL_PROCESS_GROUP)
	if err != unix.EINVAL {
		if err != nil {
			return fmt.Errorf("signal group: %w", err)
		}
		return nil
	}
	// Before 6.9: the leader's pid is its group's id while it lives, and
	// the pidfd turns readable when it exits.
	fds := []unix.PollFd{{Fd: int32(p.pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err != nil || n > 0 || p.Pid <= 0 {
		return errors.New("signal group: process has exited")
	}
	if err := unix.Kill(-p.Pid, sig); err != nil {
		return fmt.Errorf("signal group: %w", err)
	}
	return nil
}

// abandon releases the process's host resources.
func (p *Process) abandon() {
	if p.stdin != nil {
		p.stdin.Close()
	}
	for _, c := range p.pending {
		c.r.Close()
	}
	p.pending = nil
	p.conn.Close()
	// The pidfd is kept until Wait is done; Signal after Wait fails.
	p.pidMu.Lock()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	p.pidMu.Unlock()
}

func exitCode(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// plumb returns the files the command gets as stdin, stdout and stderr
// (none for a terminal, which the init makes), starting pipes for readers
// and writers that are not files.
func (p *Process) plumb(cmd *Cmd) ([]*os.File, error) {
	if cmd.Terminal != nil {
		return nil, nil
	}
	var child []*os.File
	in, err := p.input(cmd.Stdin)
	child = append(child, in)
	for i, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		if err != nil {
			break
		}
		var out *os.File
		if i == 1 && w != nil && w == cmd.Stdout {
			out, err = dupFile(child[1]) // one pipe, as os/exec does
		} else {
			out, err = p.output(w)
		}
		child = append(child, out)
	}
	return child, err
}

func (p *Process) input(r io.Reader) (*os.File, error) {
	if r == nil {
		return os.Open(os.DevNull)
	}
	if f, ok := r.(*os.File); ok {
		return dupFile(f)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	// The copy starts in startCopies, once the command runs: a spawn that
	// fails (an init that went idle meanwhile) and is retried must not
	// have consumed any of r.
	p.stdin, p.stdinR = pw, r
	return pr, nil
}

// output returns the command's end for w; copying starts in startCopies.
func (p *Process) output(w io.Writer) (*os.File, error) {
	if w == nil {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	if f, ok := w.(*os.File); ok {
		return dupFile(f)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	p.pending = append(p.pending, outCopy{w: w, r: pr})
	return pw, nil
}

// outCopy copies a command's output from the pipe r to w.
type outCopy struct {
	w io.Writer
	r *os.File
}

func (p *Process) startCopies() {
	if p.stdinR != nil {
		w, r := p.stdin, p.stdinR
		go func() {
			io.Copy(w, r)
			w.Close()
		}()
		p.stdinR = nil
	}
	for _, c := range p.pending {
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			io.Copy(c.w, c.r)
			c.r.Close()
		}()
	}
	p.pending = nil
}

func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// initGone reports whether err means the init closed the connection.
func initGone(err error) bool {
	return errors.Is(err, errPeerClosed) || errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}
