package sshgw

import (
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// setWinsize sets the terminal size of the pty whose master is f; the
// kernel sends SIGWINCH to the terminal's foreground process group.
func setWinsize(f *os.File, w winsize) error {
	return control(f, func(fd uintptr) error {
		s := w.sandbox()
		ws := &unix.Winsize{Row: s.Rows, Col: s.Cols, Xpixel: s.Width, Ypixel: s.Height}
		return unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws)
	})
}

// control runs fn on f's descriptor, which cannot be closed meanwhile.
func control(f *os.File, fn func(fd uintptr) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}

// quickAck turns off delayed ACKs on c for now. The handshake is a
// ping-pong of small packets, and OpenSSH's client sends them with Nagle's
// algorithm on: each of its second small writes then waits for our delayed
// ACK, 40 ms, twice per login.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
		})
	}
}
