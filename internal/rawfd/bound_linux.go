package rawfd

import (
	"encoding/binary"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// BoundPorts lists the ports of the TCP listeners and UDP sockets owned
// by UIDs in [base, base+count), in the calling thread's network
// namespace: the ports a slice's own sockets hold for themselves. It asks
// the kernel through sock_diag for listeners only, so it walks the
// listening and UDP hash tables but not the table of established TCP
// connections, which /proc/net/tcp walks whole (milliseconds on a large
// machine, even with no connection in the namespace).
func BoundPorts(base, count uint32) ([]Port, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	seen := map[Port]bool{}
	var out []Port
	for _, q := range []struct {
		family uint8
		proto  uint8
		states uint32
	}{
		{unix.AF_INET, unix.IPPROTO_TCP, 1 << unix.BPF_TCP_LISTEN},
		{unix.AF_INET6, unix.IPPROTO_TCP, 1 << unix.BPF_TCP_LISTEN},
		{unix.AF_INET, unix.IPPROTO_UDP, ^uint32(0)},
		{unix.AF_INET6, unix.IPPROTO_UDP, ^uint32(0)},
	} {
		err := dumpSockets(fd, q.family, q.proto, q.states, func(port uint16, uid uint32) {
			p := Port{q.proto, port}
			if uid >= base && uint64(uid) < uint64(base)+uint64(count) && port != 0 && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("sock_diag: %w", err)
		}
	}
	return out, nil
}

// Sizes and offsets of sock_diag's messages (linux/inet_diag.h).
const (
	sizeofInetDiagReqV2 = 56 // family, protocol, ext, pad, states, inet_diag_sockid (48)
	sizeofInetDiagMsg   = 72
	offDiagSport        = 4  // idiag_sport, network order
	offDiagUID          = 64 // idiag_uid
)

// dumpSockets asks the kernel for the sockets of family and proto in
// states (a bit mask of TCP states) and calls f with each one's local
// port and owner.
func dumpSockets(fd int, family, proto uint8, states uint32, f func(port uint16, uid uint32)) error {
	req := make([]byte, unix.SizeofNlMsghdr+sizeofInetDiagReqV2)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	body := req[unix.SizeofNlMsghdr:]
	body[0], body[1] = family, proto
	ne.PutUint32(body[4:], states)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(ne.Uint32(m.Data)); errno != 0 {
						return unix.Errno(-errno)
					}
				}
				return nil
			}
			if len(m.Data) < sizeofInetDiagMsg {
				continue
			}
			f(binary.BigEndian.Uint16(m.Data[offDiagSport:]), ne.Uint32(m.Data[offDiagUID:]))
		}
	}
}
