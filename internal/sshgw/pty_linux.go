package sshgw

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openPTY opens a new pseudo-terminal pair on the node's devpts.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	var sfd int
	err = control(master, func(fd uintptr) error {
		if err := unix.IoctlSetPointerInt(int(fd), unix.TIOCSPTLCK, 0); err != nil {
			return fmt.Errorf("unlock pty: %w", err)
		}
		r, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
		if errno != 0 {
			return fmt.Errorf("open pty peer: %w", errno)
		}
		sfd = int(r)
		return nil
	})
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, os.NewFile(uintptr(sfd), "pty"), nil
}

// setWinsize sets the terminal size of the pty whose master is f; the
// kernel sends SIGWINCH to the terminal's foreground process group.
func setWinsize(f *os.File, w winsize) error {
	return control(f, func(fd uintptr) error {
		ws := &unix.Winsize{Row: uint16(w.Rows), Col: uint16(w.Cols), Xpixel: uint16(w.Width), Ypixel: uint16(w.Height)}
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
