package portmgr

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
)

// The socket tables through sock_diag (netlink, linux/inet_diag.h)
// rather than /proc/net/{tcp,udp}[6]: /proc/net/tcp walks the kernel's
// whole hash of established connections, which is sized by the machine's
// memory and shared by every network namespace (milliseconds a read on a
// large machine, even in an empty namespace), and a reader of the tcp and
// tcp6 files walks it twice or more. sock_diag skips that walk when asked
// for listeners only (BoundBy), and walks it once for both families in
// the older TCPDIAG_GETSOCK request (ReadHoldersNow). A kernel without
// sock_diag is read through /proc/thread-self/net instead.

// States of sockets asked for (TCPF_* of include/net/tcp_states.h).
const (
	tcpfListen = 1 << tcpListen
	// tcpfHolding: every TCP state but TIME_WAIT (which belongs to no
	// one) and SYN_RECV and NEW_SYN_RECV (12), whose request sockets
	// sock_diag reports with UID 0 where /proc shows their listener's:
	// they share the listener's port, which the listener holds.
	tcpfHolding = 0xfff &^ (1 << tcpTimeWait) &^ (1 << 3)
	tcpfAll     = 0xffffffff
)

// Messages of sock_diag.
const (
	tcpdiagGetsock      = 18 // TCPDIAG_GETSOCK: inet_diag_req, both families
	sizeofInetDiagReq   = 60 // family, src_len, dst_len, ext, id (48), states, dbs
	sizeofInetDiagReqV2 = 56 // family, protocol, ext, pad, states, id (48)
	sizeofInetDiagMsg   = 72
)

// BoundBy lists the ports of the TCP listeners and UDP sockets whose
// owner's UID is in [lo, hi], in the calling thread's network namespace:
// the ports those sockets hold for themselves. Through sock_diag it
// walks the kernel's listening and UDP tables only.
func BoundBy(lo, hi uint32) ([]api.Port, error) {
	socks, err := readNow(tcpfListen)
	if err != nil {
		return nil, err
	}
	seen := map[api.Port]bool{}
	var out []api.Port
	for _, proto := range []string{"tcp", "udp"} {
		for _, s := range socks[proto] {
			p := api.Port{Proto: proto, Port: s.port}
			if s.uid >= lo && s.uid <= hi && s.port != 0 && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// boundSocketsNow is boundSockets of the calling thread's network
// namespace, read through sock_diag.
func boundSocketsNow(resolve func(uint32) (string, bool)) ([]Entry, error) {
	if resolve == nil {
		return nil, nil
	}
	socks, err := readNow(tcpfListen)
	if err != nil {
		return nil, err
	}
	seen := map[Entry]bool{}
	var out []Entry
	for _, proto := range []string{"tcp", "udp"} {
		for _, s := range socks[proto] {
			owner, ok := resolve(s.uid)
			e := Entry{Proto: proto, Port: s.port, Owner: owner, Kind: Bound}
			if ok && s.port != 0 && !seen[e] {
				seen[e] = true
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// ReadHoldersNow is ReadHolders of the calling thread's network namespace,
// read through sock_diag.
func ReadHoldersNow(resolve func(uint32) (string, bool), reserved map[api.Port]string) (*Holders, error) {
	socks, err := readNow(tcpfHolding)
	if err != nil {
		return nil, err
	}
	return &Holders{socks: socks, reserved: reserved, resolve: resolve}, nil
}

// readNow reads the TCP sockets in tcpStates and every UDP socket of the
// calling thread's network namespace, by protocol ("tcp", "udp"): through
// sock_diag, or, on a kernel without it (CONFIG_INET_DIAG off, or its
// modules not loadable), from /proc/thread-self/net.
func readNow(tcpStates uint32) (map[string][]procSock, error) {
	socks, err := diagNow(tcpStates)
	if !errors.Is(err, errNoDiag) {
		return socks, err
	}
	socks = map[string][]procSock{}
	for _, f := range procNetFiles {
		ss, err := readProcNet(filepath.Join("/proc/thread-self/net", f.file))
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			if f.proto == "udp" || tcpStates&(1<<s.state) != 0 {
				socks[f.proto] = append(socks[f.proto], s)
			}
		}
	}
	return socks, nil
}

// diagNow is readNow through sock_diag. TCP in more states than
// listening is asked for in the older TCPDIAG_GETSOCK request, which
// walks the established connections once for both families, or, where
// the kernel lacks it, once a family.
func diagNow(tcpStates uint32) (map[string][]procSock, error) {
	socks := map[string][]procSock{}
	collect := func(proto string) func(procSock) {
		return func(s procSock) { socks[proto] = append(socks[proto], s) }
	}
	tcpDone := false
	if tcpStates != tcpfListen {
		err := dumpSockets(unix.AF_UNSPEC, unix.IPPROTO_TCP, tcpStates, collect("tcp"))
		if err != nil && !errors.Is(err, errNoDiag) {
			return nil, err
		}
		tcpDone = err == nil
	}
	for _, family := range []uint8{unix.AF_INET, unix.AF_INET6} {
		if !tcpDone {
			if err := dumpSockets(family, unix.IPPROTO_TCP, tcpStates, collect("tcp")); err != nil {
				return nil, err
			}
		}
		if err := dumpSockets(family, unix.IPPROTO_UDP, tcpfAll, collect("udp")); err != nil {
			return nil, err
		}
	}
	return socks, nil
}

// errNoDiag wraps the errors of a kernel that cannot answer a sock_diag
// request: no handler for the family or protocol, nor a module to load.
var errNoDiag = errors.New("no sock_diag")

// dumpSockets asks the kernel for the sockets of family and proto in
// states and calls f with each. AF_UNSPEC (TCP only) asks for both
// families at once.
func dumpSockets(family, proto uint8, states uint32, f func(procSock)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if errors.Is(err, unix.EPROTONOSUPPORT) {
		return fmt.Errorf("sock_diag: %w: %w", errNoDiag, err)
	}
	if err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	ne := binary.NativeEndian
	typ, size := uint16(unix.SOCK_DIAG_BY_FAMILY), sizeofInetDiagReqV2
	if family == unix.AF_UNSPEC {
		typ, size = tcpdiagGetsock, sizeofInetDiagReq
	}
	req := make([]byte, unix.SizeofNlMsghdr+size)
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], typ)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(req[8:], 1) // sequence
	body := req[unix.SizeofNlMsghdr:]
	if family == unix.AF_UNSPEC {
		ne.PutUint32(body[52:], states)
	} else {
		body[0], body[1] = family, proto
		ne.PutUint32(body[4:], states)
	}
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("sock_diag: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 && ne.Uint32(m.Data) != 0 {
					errno := unix.Errno(-int32(ne.Uint32(m.Data)))
					if errno == unix.ENOENT || errno == unix.EOPNOTSUPP {
						return fmt.Errorf("sock_diag: %w: %w", errNoDiag, errno)
					}
					return fmt.Errorf("sock_diag: %w", errno)
				}
				return errors.New("sock_diag: error message")
			}
			if s, ok := parseDiagMsg(m.Data); ok {
				f(s)
			}
		}
	}
}

// parseDiagMsg reads an inet_diag_msg: family, state, timer, retrans,
// then inet_diag_sockid (sport and dport in network order, src and dst
// addresses of 16 bytes, interface, cookie), expires, rqueue, wqueue,
// uid, inode.
func parseDiagMsg(b []byte) (procSock, bool) {
	if len(b) < sizeofInetDiagMsg {
		return procSock{}, false
	}
	var addr netip.Addr
	switch b[0] {
	case unix.AF_INET:
		addr = netip.AddrFrom4([4]byte(b[8:12]))
	case unix.AF_INET6:
		addr = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
	default:
		return procSock{}, false
	}
	return procSock{addr: addr, port: binary.BigEndian.Uint16(b[4:]), state: b[1], uid: binary.NativeEndian.Uint32(b[64:])}, true
}
