package rawfd

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Packet sockets: a sliver's socket(AF_PACKET, SOCK_RAW or SOCK_DGRAM,
// proto) reaches the Server like a raw socket(), and gets a packet socket
// that only receives, and only the slice's own traffic:
//   - it is made with no protocol (no packet reaches it yet), gets the
//     slice's eBPF receive filter (pktfilter_linux.go), attached and
//     locked (SO_ATTACH_BPF, SO_LOCK_FILTER), and only then is bound to
//     the protocol asked for; whatever the sliver binds it to later, on
//     any device, the filter stays;
//   - it carries PacketMark, and the egress table drops every frame with
//     that mark on every device (pktsend_linux.go);
//   - setsockopt(SOL_PACKET) reaches the Server (internal/sandbox), which
//     refuses PACKET_QDISC_BYPASS (it would skip the egress hook),
//     PACKET_TX_RING, PACKET_FANOUT and device memberships (promiscuous
//     mode and the like), bounds the slice's PACKET_RX_RINGs to
//     Config.MaxPacketRing bytes together, and does the others
//     itself on the socket it checked.
//
// A slice's packet sockets count with its raw sockets toward
// Config.MaxPerSlice, and toward Config.MaxPacketPerSlice alone; their
// rings together toward Config.MaxPacketRing.

// createPacket checks a packet socket() call and makes its socket.
func (s *Server) createPacket(slice Slice, typ, proto int) (int, error) {
	if s.pkt == nil {
		return -1, fmt.Errorf("packet sockets are off on this node: %w", unix.EPERM)
	}
	switch {
	case typ&0xf != unix.SOCK_RAW && typ&0xf != unix.SOCK_DGRAM:
		return -1, fmt.Errorf("packet socket type %#x: %w", typ, unix.EPERM)
	case typ&^(0xf|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC) != 0:
		return -1, fmt.Errorf("socket type %#x: %w", typ, unix.EINVAL)
	case proto&^0xffff != 0:
		return -1, fmt.Errorf("packet protocol %#x: %w", proto, unix.EINVAL)
	}
	if err := s.egress.sync(); err != nil {
		return -1, fmt.Errorf("%w: %w", err, unix.EPERM)
	}
	s.pktMu.Lock()
	prog, err := s.pkt.prog(slice.Index)
	s.pktMu.Unlock()
	if err != nil {
		return -1, fmt.Errorf("%w: %w", err, unix.EPERM)
	}
	// No protocol: not hooked to any device until bound below.
	fd, err := s.socketFor(slice, unix.AF_PACKET, typ&(0xf|unix.SOCK_NONBLOCK), 0)
	if err != nil {
		return -1, err
	}
	if err := confinePacket(fd, slice.Index, prog.FD()); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if proto != 0 {
		// proto is in network order, as socket() takes it.
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto)}); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("packet socket: bind: %w", err)
		}
	}
	return fd, nil
}

// confinePacket marks the socket as the slice's packet socket and
// attaches and locks its receive filter.
func confinePacket(fd int, index uint32, prog int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(PacketMark(index))); err != nil {
		return fmt.Errorf("packet socket: SO_MARK: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, prog); err != nil {
		return fmt.Errorf("packet socket: SO_ATTACH_BPF: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 1); err != nil {
		return fmt.Errorf("packet socket: SO_LOCK_FILTER: %w", err)
	}
	return nil
}

// maxOptLen bounds the option values the Server reads from a caller.
const maxOptLen = 64

// answerPacketOpt answers a sliver's setsockopt(SOL_PACKET), which its
// seccomp filter hands over: refused, or done by the Server on the socket
// it checked (the caller cannot swap another in between).
func (s *Server) answerPacketOpt(slice Slice, l *listener, n *notif) error {
	if err := s.setPacketOpt(slice, l, n); err != nil {
		return l.refuse(n.ID, err)
	}
	if err := l.succeed(n.ID, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("setsockopt: answer: %w", err)
	}
	return nil
}

func (s *Server) setPacketOpt(slice Slice, l *listener, n *notif) (err error) {
	fd, opt, optlen := int(int32(n.Args[0])), int(int32(n.Args[2])), int(int32(n.Args[4]))
	switch opt {
	case unix.PACKET_QDISC_BYPASS, unix.PACKET_TX_RING, unix.PACKET_FANOUT, unix.PACKET_FANOUT_DATA:
		return fmt.Errorf("setsockopt(SOL_PACKET, %d): %w", opt, unix.EPERM)
	}
	if optlen < 0 || optlen > maxOptLen {
		return fmt.Errorf("setsockopt(SOL_PACKET, %d): optlen %d: %w", opt, optlen, unix.EINVAL)
	}
	sock, err := callerFD(l, n, fd)
	if err != nil {
		return err
	}
	defer unix.Close(sock)
	buf := make([]byte, optlen)
	if optlen > 0 {
		if err := readCaller(l, n, n.Args[3], buf); err != nil {
			return err
		}
	}
	if dom, err := unix.GetsockoptInt(sock, unix.SOL_SOCKET, unix.SO_DOMAIN); err == nil && dom == unix.AF_PACKET {
		if err := checkPacketOpt(opt, buf); err != nil {
			return err
		}
		if opt == unix.PACKET_RX_RING {
			undo, err := s.reserveRing(slice, sock, ringSize(buf))
			if err != nil {
				return err
			}
			defer func() {
				if err != nil {
					undo()
				}
			}()
		}
	}
	var p unsafe.Pointer
	if len(buf) > 0 {
		p = unsafe.Pointer(&buf[0])
	}
	if _, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(sock), unix.SOL_PACKET, uintptr(opt), uintptr(p), uintptr(len(buf)), 0); errno != 0 {
		return fmt.Errorf("setsockopt(SOL_PACKET, %d): %w", opt, errno)
	}
	return nil
}

// checkPacketOpt refuses what would let a packet socket see more than its
// filter admits or change the node's devices.
func checkPacketOpt(opt int, val []byte) error {
	switch opt {
	case unix.PACKET_ADD_MEMBERSHIP:
		// Promiscuous, all-multicast, unicast or multicast membership
		// changes the node's device (and each costs kernel memory the
		// slice is not charged); the filter drops other hosts' frames
		// anyway.
		return fmt.Errorf("setsockopt(PACKET_ADD_MEMBERSHIP): %w", unix.EPERM)
	case unix.PACKET_RX_RING:
		// struct tpacket_req(3): block size and count first.
		if len(val) < 8 {
			return fmt.Errorf("setsockopt(PACKET_RX_RING): %w", unix.EINVAL)
		}
	}
	return nil
}

// ringSize is the bytes of the ring a PACKET_RX_RING value asks for.
func ringSize(val []byte) uint64 {
	return uint64(*(*uint32)(unsafe.Pointer(&val[0]))) * uint64(*(*uint32)(unsafe.Pointer(&val[4])))
}

// reserveRing counts a ring of size bytes (0: none) on the slice's packet
// socket sock within Config.MaxPacketRing, which bounds the rings of all
// the slice's live packet sockets together (the kernel frees a ring with
// its socket); undo gives the reservation back when the kernel refuses
// the ring.
func (s *Server) reserveRing(slice Slice, sock int, size uint64) (undo func(), err error) {
	var st unix.Stat_t
	if err := unix.Fstat(sock, &st); err != nil {
		return nil, fmt.Errorf("setsockopt(PACKET_RX_RING): fstat: %w", err)
	}
	var h held
	s.w.do(func() { h, err = heldBy(slice.UIDBase, slice.UIDCount) })
	if err != nil {
		return nil, fmt.Errorf("setsockopt(PACKET_RX_RING): %w: %w", err, unix.ENOMEM)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.slices[slice.Name]
	if ss == nil {
		return nil, fmt.Errorf("setsockopt(PACKET_RX_RING): slice not served: %w", unix.EPERM)
	}
	total := uint64(0)
	for ino, n := range ss.rings {
		if !h.packet[ino] {
			delete(ss.rings, ino) // its socket is closed, and its ring freed
		} else if ino != st.Ino {
			total += uint64(n)
		}
	}
	if size > 0 && total+size > uint64(s.cfg.MaxPacketRing) {
		return nil, fmt.Errorf("setsockopt(PACKET_RX_RING): %d bytes, and the slice's other rings hold %d of the %d it may: %w",
			size, total, s.cfg.MaxPacketRing, unix.ENOMEM)
	}
	prev, had := ss.rings[st.Ino]
	if size > 0 {
		ss.rings[st.Ino] = int(size)
	} else {
		delete(ss.rings, st.Ino)
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if had {
			ss.rings[st.Ino] = prev
		} else {
			delete(ss.rings, st.Ino)
		}
	}, nil
}

// readCaller reads len(buf) bytes at addr in the notification's caller.
func readCaller(l *listener, n *notif, addr uint64, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	if _, err := unix.ProcessVMReadv(int(n.Pid), local, remote, 0); err != nil {
		return fmt.Errorf("setsockopt: read optval: %w", unix.EFAULT)
	}
	// A pid is read by number: it was still the caller's if the caller
	// is still in the call.
	if !l.valid(n.ID) {
		return fmt.Errorf("caller gone: %w", unix.ESRCH)
	}
	return nil
}

// openPackets sets up what confines packet sockets, or says why slivers
// get none on this node.
func (s *Server) openPackets() {
	pkt, err := newPktFilter()
	if err != nil {
		s.cfg.Log.Warn("slivers' packet sockets are off (socket(AF_PACKET) fails with EPERM): this kernel does not load their receive filter", "err", err)
		return
	}
	if err := pkt.openLearner(s.w); err != nil {
		pkt.close()
		s.cfg.Log.Warn("slivers' packet sockets are off (socket(AF_PACKET) fails with EPERM): no socket to learn the node's echo flows", "err", err)
		return
	}
	e := &egressTable{name: s.cfg.Table + "_pkt", t: s.nft}
	if err := e.sync(); err != nil {
		pkt.close()
		s.cfg.Log.Warn("slivers' packet sockets are off (socket(AF_PACKET) fails with EPERM): no nftables egress hook (Linux 5.16, CONFIG_NETFILTER_EGRESS) to keep them from sending", "err", err)
		return
	}
	s.pktDone = make(chan struct{})
	done := s.pktDone
	onErr := func(err error) {
		select {
		case <-done: // the subscription's socket closed with the Server
		default:
			s.cfg.Log.Error("packet sockets", "err", err)
		}
	}
	if err := e.watch(s.cfg.NetNS, done, &s.pktWG, onErr); err != nil {
		// The periodic sync still follows the devices.
		s.cfg.Log.Warn("packet sockets: devices followed at each sync only", "err", err)
	}
	s.pkt, s.egress = pkt, e
	s.cfg.Log.Info("slivers open receive-only packet sockets with socket(2), filtered to their own traffic", "table", e.name)
}

// stopPackets stops following the devices.
func (s *Server) stopPackets() {
	if s.pkt != nil {
		close(s.pktDone)
		s.pktWG.Wait()
	}
}

// closePackets undoes openPackets, egress table included.
func (s *Server) closePackets() {
	s.stopPackets()
	if s.pkt == nil {
		return
	}
	if err := s.egress.remove(); err != nil {
		s.cfg.Log.Error("packet sockets: remove egress table", "err", err)
	}
	s.pkt.close()
}

// setPacketPorts sets the ports the slice's packet sockets receive from
// st.ports to want; call with s.mu held.
func (s *Server) setPacketPorts(st *sliceState, want map[Port]bool) {
	if s.pkt == nil {
		return
	}
	if err := s.pkt.setPorts(st.Index, st.ports, want); err != nil {
		s.cfg.Log.Error("packet sockets: set ports", "slice", st.Name, "err", err)
	}
}

// forgetPackets drops the slice's ports and program; call with s.mu held
// when its last listener goes.
func (s *Server) forgetPackets(st *sliceState) {
	if s.pkt == nil {
		return
	}
	s.setPacketPorts(st, nil)
	s.pktMu.Lock()
	s.pkt.forget(st.Index)
	s.pktMu.Unlock()
}
