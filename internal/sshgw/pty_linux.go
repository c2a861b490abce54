package sshgw

import (
	"net"
	"os"
	"syscall"

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

// quickAck returns c with delayed ACKs turned off after every read. An
// SSH exchange is a ping-pong of small packets, and OpenSSH's client
// writes them with Nagle's algorithm on (it sets TCP_NODELAY for terminal
// sessions only): each small write after another then waits for our ACK,
// which Linux delays by up to 40 ms. Measured here: three such stalls per
// `ssh slice@node true`, 60-110 ms of a login. Linux drops quick-ack mode
// by itself, so it is set again after each read.
func quickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckConn{TCPConn: tc, rc: rc}
}

type quickAckConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
	return n, err
}
