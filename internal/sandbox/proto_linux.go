package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// The host and a sliver's init talk over SOCK_SEQPACKET Unix sockets: one
// JSON message a packet, with file descriptors attached as SCM_RIGHTS.
//
//	host -> init  setup (bootstrap only; fds: idmapped image, a detached
//	              clone of the layers' directory, upper and work in it)
//	init -> host  ok (fd: the seccomp listener, if setup asked for it) | error
//	host -> init  spawn (fds: stdin, stdout, stderr; none for a terminal)
//	init -> host  pid (fds: a pidfd of the command, and the master of its
//	              terminal if it asked for one) | error
//	init -> host  exit, when the command has exited
//	host -> init  install (fds: a sealed memfd of each file's content,
//	              in order, for the files not removed)
//	init -> host  ok | error (what went wrong, or was moved aside)
//	host -> init  raw listener
//	init -> host  ok (fd: the seccomp listener) | error
//
// The init is inside the sliver, so the host treats what it says as data
// from an untrusted peer: sizes are bounded and every field is checked.
type message struct {
	Setup   *setupMsg   `json:"setup,omitempty"`
	Spawn   *spawnMsg   `json:"spawn,omitempty"`
	Install *installMsg `json:"install,omitempty"`
	// RawListener asks for the init's seccomp listener (RawListener).
	RawListener bool `json:"raw_listener,omitempty"`

	OK    bool   `json:"ok,omitempty"`
	Error string `json:"error,omitempty"`
	Pid   int    `json:"pid,omitempty"`
	// Exit is the command's raw wait status.
	Exit *uint32 `json:"exit,omitempty"`
}

// protoVersion is the version of this protocol, and of what the init
// does to confine the sliver: it changes with either. The init program is
// a binary of its own (orbis-init), built beside orbis: one from another
// build refuses to boot rather than misread the host or confine the
// sliver less. Version 2 scopes abstract Unix sockets; version 3 may catch
// raw socket() calls for the host (RawNotify).
const protoVersion = 3

type setupMsg struct {
	Proto   int      `json:"proto"`
	Name    string   `json:"name"`
	Rlimits []Rlimit `json:"rlimits,omitempty"`
	// Linger is how long the init waits for a command once it has none
	// left, before it exits (Config.Linger).
	Linger time.Duration `json:"linger,omitempty"`
	// Shares are the targets of the detached read-only mounts sent after
	// the setupFDs layer fds, in order.
	Shares []string `json:"shares,omitempty"`
	// RawNotify asks the init to hand raw socket() calls to a seccomp
	// listener and send the listener back with its ok.
	RawNotify bool `json:"raw_notify,omitempty"`
	// RawWaitInterruptible keeps a raw socket() call's wait for the
	// host's answer interruptible by signals (Config.RawWaitInterruptible).
	RawWaitInterruptible bool `json:"raw_wait_interruptible,omitempty"`
}

// The order of the file descriptors sent with a setupMsg.
const (
	setupIdmap  = iota // detached idmapped read-only mount of the image
	setupLayers        // detached clone of the directory of upper and work
	setupUpper         // upper, inside the layers clone
	setupWork          // work, inside the layers clone
	setupFDs
	// After them come detached read-only clones of the shares (RunShare
	// first, at /run/orbis), one per setupMsg.Shares target.
)

type spawnMsg struct {
	Args   []string `json:"args"`
	Env    []string `json:"env"`
	Dir    string   `json:"dir"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	// Terminal asks for a new pty of this size for the command.
	Terminal *Winsize `json:"terminal,omitempty"`
}

type installMsg struct {
	Files []File `json:"files"`
}

const (
	maxMessage = 256 << 10
	maxFDs     = 12
)

// errPeerClosed is returned by recv when the other end closed the socket.
var errPeerClosed = errors.New("peer closed the connection")

// send writes one message with fds attached.
func send(conn *net.UnixConn, m message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode message: %w", err)
	}
	if len(b) > maxMessage {
		return fmt.Errorf("encode message: %d bytes is too large", len(b))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix(b, oob, nil); err != nil {
		return fmt.Errorf("send message: %w", err)
	}
	return nil
}

// recv reads one message and the fds attached to it, which the caller must
// close. The fds are close-on-exec.
func recv(conn *net.UnixConn) (message, []int, error) {
	var m message
	size, err := nextSize(conn)
	if err != nil {
		return m, nil, fmt.Errorf("receive message: %w", err)
	}
	// One byte more than the largest message, so a longer one shows as
	// truncated.
	b := make([]byte, min(size, maxMessage)+1)
	oob := make([]byte, unix.CmsgSpace(maxFDs*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(b, oob)
	fds := parseRights(oob[:oobn])
	if err != nil {
		closeFDs(fds)
		if errors.Is(err, io.EOF) {
			return m, nil, errPeerClosed
		}
		return m, nil, fmt.Errorf("receive message: %w", err)
	}
	if n == 0 {
		closeFDs(fds)
		return m, nil, errPeerClosed
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || n > maxMessage {
		closeFDs(fds)
		return m, nil, errors.New("receive message: truncated")
	}
	if err := json.Unmarshal(b[:n], &m); err != nil {
		closeFDs(fds)
		return m, nil, fmt.Errorf("decode message: %w", err)
	}
	return m, fds, nil
}

// nextSize waits for the next message and returns its size, leaving it
// queued, so that recv allocates only what it needs: an init lives as long
// as its sliver runs, and holds what it allocated.
func nextSize(conn *net.UnixConn) (int, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), nil, unix.MSG_PEEK|unix.MSG_TRUNC)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	return n, nil
}

// recvCtx is recv that gives up when ctx is done.
func recvCtx(ctx context.Context, conn *net.UnixConn) (message, []int, error) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	m, fds, err := recv(conn)
	if !stop() {
		<-fired
		conn.SetReadDeadline(time.Time{})
		if err != nil {
			return m, fds, fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}
	return m, fds, err
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, msg := range msgs {
		rights, err := unix.ParseUnixRights(&msg)
		if err == nil {
			fds = append(fds, rights...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// fileConn turns a socket fd into a *net.UnixConn; fd is closed.
func fileConn(fd int) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "sandbox-conn")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("socket fd %d: %w", fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("socket fd %d: not a unix socket", fd)
	}
	return uc, nil
}

// socketPair returns two connected SOCK_SEQPACKET sockets: one for this
// process and a file to hand to a child.
func socketPair() (*net.UnixConn, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	conn, err := fileConn(fds[0])
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	return conn, os.NewFile(uintptr(fds[1]), "sandbox-boot"), nil
}
