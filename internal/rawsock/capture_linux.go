package rawsock

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// capture is an AF_PACKET socket that receives, from every interface of
// its namespace, the packets its locked BPF filter keeps, IP header first.
// It stays in the service: the sliver never holds it, so it cannot send
// frames on it.
type capture struct {
	f *os.File
}

// newCapture opens a capture for b in the namespace nsfd (-1: the
// caller's): of the packets to b (Filter), or for a sniffer of the
// packets from and to b's port (SniffFilter). The socket receives
// nothing until its filter is attached and locked.
func newCapture(nsfd int, b Binding, sniff bool) (*capture, error) {
	filter := Filter
	if sniff {
		filter = SniffFilter
	}
	insns, err := filter(b)
	if err != nil {
		return nil, err
	}
	var fd int
	err = onThread(nsfd, 0, func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("open packet socket: %w", err)
	}
	if err := setupCapture(fd, insns); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &capture{f: os.NewFile(uintptr(fd), "rawsock-capture")}, nil
}

func setupCapture(fd int, insns []Insn) error {
	filter := make([]unix.SockFilter, len(insns))
	for i, in := range insns {
		filter[i] = unix.SockFilter{Code: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attach capture filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 1); err != nil {
		return fmt.Errorf("lock capture filter: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 1<<20); err != nil {
		return fmt.Errorf("size capture buffer: %w", err)
	}
	sll := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}
	if err := unix.Bind(fd, &sll); err != nil {
		return fmt.Errorf("bind packet socket: %w", err)
	}
	return nil
}

func htons(v uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&v))
	return uint16(b[0])<<8 | uint16(b[1])
}

// read returns the next captured packet into buf and which way it went;
// it returns an error wrapping os.ErrClosed once the capture is closed.
func (c *capture) read(buf []byte) (n int, dir direction, err error) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var from unix.Sockaddr
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
		return !errors.Is(rerr, unix.EAGAIN)
	})
	if err != nil {
		return 0, 0, err
	}
	if rerr != nil {
		return 0, 0, fmt.Errorf("read capture: %w", rerr)
	}
	dir = received
	if ll, ok := from.(*unix.SockaddrLinklayer); ok {
		loop := ll.Hatype == unix.ARPHRD_LOOPBACK
		switch {
		case ll.Pkttype == unix.PACKET_OUTGOING && loop:
			dir = loopSent
		case ll.Pkttype == unix.PACKET_OUTGOING:
			dir = sent
		case loop:
			dir = looped
		}
	}
	return min(n, len(buf)), dir, nil
}

// Close closes the socket, ending a blocked read.
func (c *capture) Close() error { return c.f.Close() }
