package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// packetMode runs one packet socket mode:
//
//	pkt listen DEV SECS   print "saw PROTO SPORT DPORT" for each IP frame a
//	                      packet socket bound to DEV ("any": all) gets
//	pkt send DEV MARK     send an Ethernet broadcast frame holding MARK
//	pkt sendwait DEV MARK the same from a socket opened before DEV exists:
//	                      print "opened", wait for DEV, then send
//	pkt tamper DEV        try to widen or bypass the socket's confinement,
//	                      one line per attempt
func packetMode(args []string) error {
	if len(args) < 2 {
		return errors.New("pkt: mode and device")
	}
	if args[0] == "sendwait" {
		return packetSendWait(args[1], []byte(args[2]))
	}
	fd, ifindex, err := packetSocket(args[1])
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	switch args[0] {
	case "listen":
		secs, _ := strconv.Atoi(args[2])
		return packetListen(fd, time.Duration(secs)*time.Second)
	case "send":
		return packetSend(fd, ifindex, []byte(args[2]))
	case "tamper":
		return packetTamper(fd, ifindex)
	}
	return fmt.Errorf("pkt: no mode %q", args[0])
}

func packetSocket(dev string) (fd, ifindex int, err error) {
	fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons16(unix.ETH_P_ALL)))
	if err != nil {
		return -1, 0, fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	if dev != "any" {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			unix.Close(fd)
			return -1, 0, err
		}
		ifindex = ifi.Index
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons16(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
			unix.Close(fd)
			return -1, 0, fmt.Errorf("bind: %w", err)
		}
	}
	return fd, ifindex, nil
}

func htons16(v uint16) uint16 { return v<<8 | v>>8 }

func packetListen(fd int, d time.Duration) error {
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	fmt.Println("ready")
	buf := make([]byte, 65536)
	n := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		m, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		ll, _ := from.(*unix.SockaddrLinklayer)
		if ll == nil || ll.Protocol != htons16(0x0800) || m < 14+20 {
			fmt.Printf("saw other\n")
			continue
		}
		ip := buf[14:m]
		ihl := int(ip[0]&0xf) * 4
		proto := ip[9]
		var sport, dport uint16
		if (proto == 6 || proto == 17) && len(ip) >= ihl+4 {
			sport, dport = binary.BigEndian.Uint16(ip[ihl:]), binary.BigEndian.Uint16(ip[ihl+2:])
		}
		n++
		fmt.Printf("saw %d %d %d\n", proto, sport, dport)
	}
	fmt.Println("frames", n)
	return nil
}

func packetSend(fd, ifindex int, mark []byte) error {
	frame := make([]byte, 14, 64+len(mark))
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	binary.BigEndian.PutUint16(frame[12:], 0x0800)
	ip := make([]byte, 28)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(28+len(mark)))
	copy(ip[12:], []byte{10, 201, 0, 1})
	copy(ip[16:], []byte{10, 201, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], 4000)
	binary.BigEndian.PutUint16(ip[22:], 4001)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+len(mark)))
	frame = append(append(frame, ip...), mark...)
	to := &unix.SockaddrLinklayer{Protocol: htons16(0x0800), Ifindex: ifindex, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	for i := 0; i < 5; i++ {
		if err := unix.Sendto(fd, frame, 0, to); err != nil {
			fmt.Println("sendto:", err)
		} else {
			fmt.Println("sendto: ok")
		}
		if _, err := unix.Write(fd, frame); err != nil {
			fmt.Println("write:", err)
		} else {
			fmt.Println("write: ok")
		}
	}
	return nil
}

func packetTamper(fd, ifindex int) error {
	report := func(name string, err error) {
		if err == nil {
			fmt.Printf("%s: ok\n", name)
		} else {
			fmt.Printf("%s: %v\n", name, err)
		}
	}
	all := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}}
	prog := unix.SockFprog{Len: 1, Filter: &all[0]}
	report("detach", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0))
	report("attach", unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog))
	report("unlock", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 0))
	report("mark", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, 0))
	report("qdisc_bypass", unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1))
	report("fanout", unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, 0x4242|unix.PACKET_FANOUT_HASH<<16))
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
	report("promisc", unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq))
	tx := unix.TpacketReq{Block_size: 4096, Block_nr: 1, Frame_size: 2048, Frame_nr: 2}
	report("tx_ring", setReq(fd, unix.PACKET_TX_RING, &tx))
	big := unix.TpacketReq{Block_size: 1 << 22, Block_nr: 64, Frame_size: 1 << 16, Frame_nr: 64 * 64}
	report("rx_ring_huge", setReq(fd, unix.PACKET_RX_RING, &big))
	// What tools need keeps working.
	report("version", unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2))
	ok := unix.TpacketReq{Block_size: 1 << 16, Block_nr: 4, Frame_size: 2048, Frame_nr: 128}
	report("rx_ring", setReq(fd, unix.PACKET_RX_RING, &ok))
	// A protocol of its own and any device: the filter stays.
	report("rebind", unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons16(unix.ETH_P_IP)}))
	return nil
}

func setReq(fd, opt int, r *unix.TpacketReq) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_PACKET, uintptr(opt), uintptr(unsafe.Pointer(r)), unsafe.Sizeof(*r), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func packetSendWait(dev string, mark []byte) error {
	fd, _, err := packetSocket("any")
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	fmt.Println("opened")
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if ifi, err := net.InterfaceByName(dev); err == nil && ifi.Flags&net.FlagUp != 0 {
			return packetSend(fd, ifi.Index, mark)
		}
	}
	return fmt.Errorf("no device %s", dev)
}
