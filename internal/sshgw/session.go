package sshgw

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// Limits of one session's requests.
const (
	maxEnv      = 32
	maxEnvBytes = 4096
	startTime   = 30 * time.Second // to start a command, init included
	drainTime   = 2 * time.Second  // to copy a finished pty's last output
	hangupGrace = 2 * time.Second  // between SIGHUP and SIGKILL
)

// winsize is a terminal's size as SSH gives it.
type winsize struct{ Cols, Rows, Width, Height uint32 }

// sandbox returns w as the sandbox takes it, clamped to 16 bits.
func (w winsize) sandbox() *sandbox.Winsize {
	c := func(v uint32) uint16 { return uint16(min(v, 0xffff)) }
	return &sandbox.Winsize{Rows: c(w.Rows), Cols: c(w.Cols), Width: c(w.Width), Height: c(w.Height)}
}

// session is one session channel: a login shell, a command or sftp.
// Requests are handled one at a time by serve's goroutine, which owns
// every field but done.
type session struct {
	srv   *Server
	ctx   context.Context // the connection's
	conn  *ssh.ServerConn
	slice string
	ch    ssh.Channel
	log   *slog.Logger

	env  []string // accepted "env" requests, NAME=value
	term string   // from "pty-req"
	win  winsize
	tty  bool // a pty was asked for

	proc   Process
	master *os.File      // the pty's master, if any
	done   chan struct{} // closed when the command's end is reported

	// after, if set, runs once the current request has been answered.
	after func()
	// over is set when the session ended without a command.
	over bool
}

// started reports whether the session has run its command (or tried to).
func (s *session) started() bool { return s.proc != nil || s.over }

func newSession(srv *Server, ctx context.Context, conn *ssh.ServerConn, slice string, ch ssh.Channel, log *slog.Logger) *session {
	return &session{srv: srv, ctx: ctx, conn: conn, slice: slice, ch: ch, log: log, done: make(chan struct{})}
}

// serve handles the session's requests until the client closes it or the
// connection ends; then a command still running is hung up.
func (s *session) serve(reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok := s.handle(req)
		if req.WantReply {
			req.Reply(ok, nil)
		}
		if s.after != nil {
			s.after()
			s.after = nil
		}
	}
	if s.proc == nil {
		s.ch.Close()
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.hangUp()
}

// hangUp ends a command whose client is gone: SIGHUP to its process group,
// then SIGKILL if it is still there after a grace period.
func (s *session) hangUp() {
	s.log.Debug("ssh client gone, hanging up the session")
	s.proc.SignalGroup(syscall.SIGHUP)
	select {
	case <-s.done:
		return
	case <-time.After(hangupGrace):
	}
	s.proc.SignalGroup(syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(hangupGrace):
		// A process outside the group may hold the output open; the
		// waiter finishes on its own when it lets go.
		s.log.Warn("ssh session: command's output still open after kill")
	}
}

func (s *session) handle(req *ssh.Request) bool {
	switch req.Type {
	case "env":
		return s.setEnv(req.Payload)
	case "pty-req":
		return s.ptyReq(req.Payload)
	case "window-change":
		return s.windowChange(req.Payload)
	case "shell":
		return s.shell(req.Payload)
	case "exec":
		return s.exec(req.Payload)
	case "subsystem":
		return s.subsystem(req.Payload)
	case "signal":
		return s.signal(req.Payload)
	}
	return false // x11, agent forwarding and the rest: refused
}

// acceptedEnv is what a client may set, as Debian's sshd_config accepts.
func acceptedEnv(name string) bool {
	switch name {
	case "LANG", "TZ", "COLORTERM", "NO_COLOR":
		return true
	}
	return strings.HasPrefix(name, "LC_")
}

func (s *session) setEnv(payload []byte) bool {
	var m struct{ Name, Value string }
	if ssh.Unmarshal(payload, &m) != nil || s.started() || !acceptedEnv(m.Name) ||
		len(s.env) >= maxEnv || len(m.Name)+len(m.Value) > maxEnvBytes || strings.ContainsRune(m.Value, 0) {
		return false
	}
	s.env = append(s.env, m.Name+"="+m.Value)
	return true
}

func (s *session) ptyReq(payload []byte) bool {
	var m struct {
		Term                      string
		Cols, Rows, Width, Height uint32
		Modes                     string
	}
	if ssh.Unmarshal(payload, &m) != nil || s.started() || s.tty || len(m.Term) > 64 || strings.ContainsAny(m.Term, "\x00=") {
		return false
	}
	s.tty, s.term = true, m.Term
	s.win = winsize{m.Cols, m.Rows, m.Width, m.Height}
	return true
}

func (s *session) windowChange(payload []byte) bool {
	var w winsize
	if ssh.Unmarshal(payload, &w) != nil {
		return false
	}
	s.win = w
	if s.master != nil {
		if err := setWinsize(s.master, w); err != nil {
			s.log.Debug("ssh window change", "err", err)
		}
	}
	return true
}

func (s *session) signal(payload []byte) bool {
	var m struct{ Name string }
	if ssh.Unmarshal(payload, &m) != nil || s.proc == nil {
		return false
	}
	sig, ok := signalByName(strings.TrimPrefix(m.Name, "SIG"))
	if !ok {
		return false
	}
	return s.proc.SignalGroup(sig) == nil
}

// environ is the command's environment: a login's, plus what the client
// was allowed to set.
func (s *session) environ() []string {
	env := append([]string{}, sandbox.DefaultEnv...)
	env = append(env, "USER=root", "LOGNAME=root")
	if r, l := addrPort(s.conn.RemoteAddr()), addrPort(s.conn.LocalAddr()); r != "" && l != "" {
		env = append(env, "SSH_CLIENT="+r+" "+strings.Fields(l)[1], "SSH_CONNECTION="+r+" "+l)
	}
	if s.tty && s.term != "" {
		env = append(env, "TERM="+s.term)
	}
	return append(env, s.env...)
}

// addrPort formats a TCP address as "ip port".
func addrPort(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s %d", t.IP, t.Port)
}

// loginScript runs the sliver root's shell, as /etc/passwd names it if
// /etc/shells lists it (else /bin/sh, so that a broken passwd file does
// not lock the slice out), in the home directory: as a login shell with
// no argument, or with -c and the command.
const loginScript = `cd "$HOME" 2>/dev/null || cd /
shell=/bin/sh
if [ -r /etc/passwd ] && [ -r /etc/shells ]; then
	while IFS=: read -r user _ _ _ _ _ s; do
		[ "$user" = root ] || continue
		while read -r ok; do
			if [ "$ok" = "$s" ] && [ -x "$s" ]; then shell=$s; fi
		done </etc/shells
		break
	done </etc/passwd
fi
export SHELL="$shell"
[ $# -eq 0 ] && exec "$shell" -l
exec "$shell" -c "$1"`

func (s *session) shell(payload []byte) bool {
	if len(payload) != 0 || s.started() {
		return false
	}
	return s.start("shell", []string{"/bin/sh", "-c", loginScript, "orbis-login"})
}

func (s *session) exec(payload []byte) bool {
	var m struct{ Command string }
	if ssh.Unmarshal(payload, &m) != nil || s.started() || strings.ContainsRune(m.Command, 0) {
		return false
	}
	return s.start("exec", []string{"/bin/sh", "-c", loginScript, "orbis-login", m.Command})
}

// start runs args in the sliver, on a pty if one was asked for, else on
// the channel's streams, and reports its exit when it is done.
func (s *session) start(kind string, args []string) bool {
	cmd := sandbox.Cmd{Args: args, Env: s.environ()}
	if s.tty {
		cmd.Terminal = s.win.sandbox()
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = s.ch, s.ch, s.ch.Stderr()
	}
	ctx, cancel := context.WithTimeout(s.ctx, startTime)
	defer cancel()
	proc, err := s.srv.cfg.Slivers.Exec(ctx, s.slice, cmd)
	if err == nil && s.tty && proc.Terminal() == nil {
		proc.SignalGroup(syscall.SIGKILL)
		go proc.Wait()
		err = errors.New("no terminal")
	}
	if err != nil {
		s.log.Warn("ssh session: start", "kind", kind, "err", err)
		fmt.Fprintf(s.ch.Stderr(), "orbis: could not start the %s in the sliver\r\n", kind)
		return false
	}
	s.proc = proc
	if s.tty {
		s.master = proc.Terminal()
	}
	s.log.Info("ssh session", "kind", kind, "tty", s.tty)
	var copied <-chan struct{}
	if s.master != nil {
		copied = s.copyPTY()
	}
	s.after = func() { go s.wait(copied) } // once the request is answered
	return true
}

// copyPTY copies between the channel and the pty; the returned channel is
// closed once the pty's output has been copied to the end.
func (s *session) copyPTY() <-chan struct{} {
	out := make(chan struct{})
	go func() {
		io.Copy(s.master, s.ch)
	}()
	go func() {
		io.Copy(s.ch, s.master) // ends with EIO once every slave is closed
		close(out)
	}()
	return out
}

// wait reports the command's exit status to the client and closes the
// channel. copied, if not nil, is closed once the last output is sent.
func (s *session) wait(copied <-chan struct{}) {
	defer close(s.done)
	code, err := s.proc.Wait()
	if err != nil {
		s.log.Warn("ssh session: wait", "err", err)
		code = 255
	}
	if copied != nil {
		select {
		case <-copied:
		case <-time.After(drainTime):
		}
	}
	if s.master != nil {
		s.master.Close() // hangs up what is left on the terminal
	}
	s.ch.CloseWrite()
	s.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
	s.ch.Close()
}
