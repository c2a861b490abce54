package peercred

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Sizes and offsets of the sock_diag messages (linux/inet_diag.h).
const (
	diagReqLen   = 56 // struct inet_diag_req_v2
	diagMsgLen   = 72 // struct inet_diag_msg
	diagUIDOff   = 64 // inet_diag_msg.idiag_uid
	diagInodeOff = 68 // inet_diag_msg.idiag_inode
	diagTimeout  = time.Second
)

// ofTCP returns the host UID of the socket at the other end of c when that
// socket is on this host (in this network namespace): it asks the kernel's
// sock_diag for the TCP socket whose own address is c's remote address
// and whose peer is c's local one. ErrNoPeer if there is no such socket
// that a process still holds open (a remote client, or a peer that
// already closed its end).
func ofTCP(c *net.TCPConn) (Cred, error) {
	local, lok := c.LocalAddr().(*net.TCPAddr)
	remote, rok := c.RemoteAddr().(*net.TCPAddr)
	if !lok || !rok {
		return Cred{}, fmt.Errorf("sock_diag: %w", ErrNoPeer)
	}
	uid, err := socketUID(remote.AddrPort(), local.AddrPort())
	if err != nil {
		return Cred{}, err
	}
	return Cred{UID: uid}, nil
}

// socketUID returns the owner of the TCP socket from src to dst.
func socketUID(src, dst netip.AddrPort) (uint32, error) {
	req, err := diagRequest(src, dst)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(diagTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag: send: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: receive: %w", err)
	}
	return parseDiagReply(buf[:n])
}

// diagRequest is a netlink message asking for the one TCP socket from src
// to dst (SOCK_DIAG_BY_FAMILY without NLM_F_DUMP: an exact lookup).
func diagRequest(src, dst netip.AddrPort) ([]byte, error) {
	sa, da := src.Addr().Unmap(), dst.Addr().Unmap()
	family := byte(unix.AF_INET6)
	if sa.Is4() && da.Is4() {
		family = unix.AF_INET
	} else {
		sa, da = src.Addr(), dst.Addr()
		if !sa.Is6() || !da.Is6() {
			return nil, fmt.Errorf("sock_diag: addresses %v and %v of different families", src, dst)
		}
	}
	b := make([]byte, unix.SizeofNlMsghdr+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	r := b[unix.SizeofNlMsghdr:]
	r[0], r[1] = family, unix.IPPROTO_TCP
	ne.PutUint32(r[4:], ^uint32(0)) // every state; the reply says which
	binary.BigEndian.PutUint16(r[8:], src.Port())
	binary.BigEndian.PutUint16(r[10:], dst.Port())
	copy(r[12:28], sa.AsSlice())
	copy(r[28:44], da.AsSlice())
	ne.PutUint32(r[48:], ^uint32(0)) // INET_DIAG_NOCOOKIE
	ne.PutUint32(r[52:], ^uint32(0))
	return b, nil
}

// parseDiagReply reads the owner from sock_diag's answer: an
// inet_diag_msg, or an error (ENOENT: no such socket). A socket without
// an inode (a time-wait or orphaned one) has no owner to trust.
func parseDiagReply(b []byte) (uint32, error) {
	if len(b) < unix.SizeofNlMsghdr {
		return 0, errors.New("sock_diag: short reply")
	}
	ne := binary.NativeEndian
	body := b[unix.SizeofNlMsghdr:]
	switch ne.Uint16(b[4:]) {
	case unix.NLMSG_ERROR:
		if len(body) < 4 {
			return 0, errors.New("sock_diag: short error")
		}
		errno := unix.Errno(-int32(ne.Uint32(body)))
		if errno == unix.ENOENT {
			return 0, fmt.Errorf("sock_diag: %w", ErrNoPeer)
		}
		return 0, fmt.Errorf("sock_diag: %w", errno)
	case unix.SOCK_DIAG_BY_FAMILY:
		if len(body) < diagMsgLen {
			return 0, errors.New("sock_diag: short answer")
		}
		if ne.Uint32(body[diagInodeOff:]) == 0 {
			return 0, fmt.Errorf("sock_diag: %w", ErrNoPeer)
		}
		return ne.Uint32(body[diagUIDOff:]), nil
	}
	return 0, fmt.Errorf("sock_diag: reply of type %d", ne.Uint16(b[4:]))
}
