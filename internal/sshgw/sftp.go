package sshgw

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// sftpScript runs the image's own sftp-server in the home directory, after
// telling the gateway on standard output whether it found one, so that
// the gateway can refuse the subsystem instead of starting it broken.
const sftpScript = `cd "$HOME" 2>/dev/null || cd /
for p in /usr/lib/openssh/sftp-server /usr/lib/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server; do
	if [ -x "$p" ]; then printf '` + sftpFound + `'; exec "$p"; fi
done
printf '` + sftpMissing + `'`

// The markers sftpScript writes; both are of one length.
const (
	sftpFound   = "orbis-sftp:ok\n"
	sftpMissing = "orbis-sftp:no\n"
)

func (s *session) subsystem(payload []byte) bool {
	var m struct{ Name string }
	if ssh.Unmarshal(payload, &m) != nil || s.started() {
		return false
	}
	if m.Name != "sftp" {
		fmt.Fprintf(s.ch.Stderr(), "orbis: no subsystem %q here; only sftp\n", m.Name)
		return false
	}
	if s.tty {
		return false
	}
	return s.startSFTP()
}

// refuse ends the session, once the request is answered, with msg on
// standard error and status 127, as sshd does when the subsystem's program
// is missing. A plain refusal of the request would be clearer in
// principle, but OpenSSH's sftp and scp exit on it before they show the
// message.
func (s *session) refuse(msg error) {
	s.over = true
	s.after = func() {
		fmt.Fprintf(s.ch.Stderr(), "%v\n", msg)
		s.ch.CloseWrite()
		s.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{127}))
		s.ch.Close()
	}
}

// startSFTP starts sftpScript, with standard output on a pipe of its own
// whose first line is the script's marker and the rest the sftp protocol.
func (s *session) startSFTP() bool {
	r, w, err := os.Pipe()
	if err != nil {
		s.log.Error("ssh sftp: pipe", "err", err)
		return false
	}
	cmd := sandbox.Cmd{Args: []string{"/bin/sh", "-c", sftpScript}, Env: s.environ(),
		Stdin: s.ch, Stdout: w, Stderr: s.ch.Stderr()}
	ctx, cancel := context.WithTimeout(s.ctx, startTime)
	defer cancel()
	proc, err := s.srv.cfg.Slivers.Exec(ctx, s.slice, cmd)
	w.Close() // the sliver has its own copy
	if err != nil {
		r.Close()
		s.log.Warn("ssh sftp: start", "err", err)
		fmt.Fprintf(s.ch.Stderr(), "orbis: could not start sftp in the sliver\n")
		return false
	}
	r.SetReadDeadline(time.Now().Add(startTime))
	marker := make([]byte, len(sftpFound))
	_, err = io.ReadFull(r, marker)
	r.SetReadDeadline(time.Time{})
	if err != nil || !bytes.Equal(marker, []byte(sftpFound)) {
		r.Close()
		proc.SignalGroup(syscall.SIGKILL)
		proc.Wait()
		s.refuse(ErrNoSubsystem)
		return true
	}
	s.proc = proc
	s.log.Info("ssh session", "kind", "sftp")
	copied := make(chan struct{})
	go func() {
		io.Copy(s.ch, r)
		r.Close()
		close(copied)
	}()
	s.after = func() { go s.wait(copied) } // once the request is answered
	return true
}
