// Command probe is what a sliver's measurement tool does with ICMP
// datagram sockets and raw sockets, for the rawfd tests: each mode does
// one thing and prints one line saying what happened.
//
//	probe dgramping DST MARK         echo through an ICMP datagram socket
//	probe rawping DST MARK [ID]      echo through a raw ICMP socket
//	probe send KIND SRC DST MARK     one hand-built IPv4 packet (IP_HDRINCL)
//	probe listen PROTO SECS MARK     count packets with MARK a raw socket gets
//	probe tamper                     try to undo a raw socket's confinement
//	probe many N                     open N raw sockets
//	probe rtt DST N                  mean echo RTT over a raw socket, in ns
//	probe rawudp DST SPORT DPORT MARK  a UDP datagram and its echo, raw
//	probe rawping6 DST MARK          echo through a raw ICMPv6 socket
//	probe send6 KIND SRC DST MARK    one hand-built IPv6 packet
//	probe initfd                     try to reach the init's descriptors
//	probe bindsend SPORT DST DPORT   hold SPORT with a UDP socket, then send
//	                                 a datagram from it through a raw socket
//	probe dgramrtt DST N             mean echo RTT over an ICMP datagram socket
//	probe relayrtt SOCK DST N        mean echo RTT through the raw socket service
//	probe flood DST SPORT DPORT N    N UDP datagrams from a raw socket; ns taken
//	probe pkt ...                    packet socket modes (packet.go)
//	probe recverr                    IP_RECVERR and IPV6_RECVERR set from a thread
//	                                 other than the main one, on UDP and raw
//	                                 sockets, and read back
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("no mode")
	}
	switch args[0] {
	case "recverr":
		return recvErr()
	case "pkt":
		return packetMode(args[1:])
	case "dgramping":
		return dgramPing(addr(args[1]), []byte(args[2]))
	case "rawping":
		id := 0x4242
		if len(args) > 3 {
			id, _ = strconv.Atoi(args[3])
		}
		return rawPing(addr(args[1]), []byte(args[2]), uint16(id))
	case "send":
		return send(args[1], addr(args[2]), addr(args[3]), []byte(args[4]))
	case "listen":
		proto, _ := strconv.Atoi(args[1])
		secs, _ := strconv.Atoi(args[2])
		return listen(proto, time.Duration(secs)*time.Second, []byte(args[3]))
	case "tamper":
		return tamper()
	case "many":
		n, _ := strconv.Atoi(args[1])
		return many(n)
	case "rawudp":
		sport, _ := strconv.Atoi(args[2])
		dport, _ := strconv.Atoi(args[3])
		return rawUDP(addr(args[1]), uint16(sport), uint16(dport), []byte(args[4]))
	case "rawping6":
		return rawPing6(netip.MustParseAddr(args[1]).As16(), []byte(args[2]))
	case "send6":
		return send6(args[1], netip.MustParseAddr(args[2]).As16(), netip.MustParseAddr(args[3]).As16(), []byte(args[4]))
	case "bindsend":
		sport, _ := strconv.Atoi(args[1])
		dport, _ := strconv.Atoi(args[3])
		return bindSend(uint16(sport), addr(args[2]), uint16(dport))
	case "initfd":
		return initFD()
	case "dgramrtt":
		n, _ := strconv.Atoi(args[2])
		return dgramRTT(addr(args[1]), n)
	case "relayrtt":
		n, _ := strconv.Atoi(args[3])
		return relayRTT(args[1], netip.MustParseAddr(args[2]), n)
	case "flood":
		sport, _ := strconv.Atoi(args[2])
		dport, _ := strconv.Atoi(args[3])
		n, _ := strconv.Atoi(args[4])
		return flood(addr(args[1]), uint16(sport), uint16(dport), n)
	case "rtt":
		n, _ := strconv.Atoi(args[2])
		return rtt(addr(args[1]), n)
	case "opens":
		n, _ := strconv.Atoi(args[1])
		return opens(n, len(args) > 2 && args[2] == "bind")
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func addr(s string) [4]byte { return netip.MustParseAddr(s).As4() }

// echo is an ICMP echo request with its checksum.
func echo(id, seq uint16, payload []byte) []byte {
	b := append([]byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}, payload...)
	binary.BigEndian.PutUint16(b[2:], csum(b))
	return b
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func setTimeout(fd int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func dgramPing(dst [4]byte, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("icmp datagram socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, 3*time.Second)
	if err := unix.Sendto(fd, echo(0, 1, mark), 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("recv: %w", err)
		}
		if n >= 8 && buf[0] == 0 && bytes.Contains(buf[8:n], mark) {
			fmt.Println("reply")
			return nil
		}
	}
}

func rawPing(dst [4]byte, mark []byte, id uint16) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, 2*time.Second)
	if err := unix.Sendto(fd, echo(id, 1, mark), 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			fmt.Println("no reply:", err)
			return nil
		}
		ihl := int(buf[0]&0xf) * 4
		if n >= ihl+8 && buf[ihl] == 0 && binary.BigEndian.Uint16(buf[ihl+4:]) == id && bytes.Contains(buf[ihl+8:n], mark) {
			fmt.Println("reply")
			return nil
		}
	}
}

// send builds one IPv4 packet of the kind and sends it whole.
func send(kind string, src, dst [4]byte, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	udp := func(sport uint16) []byte {
		b := []byte{byte(sport >> 8), byte(sport), 0x1f, 0x90, 0, 0, 0, 0}
		b = append(b, mark...)
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
		return b
	}
	var opts []byte
	proto, frag := byte(unix.IPPROTO_UDP), uint16(0)
	var body []byte
	switch kind {
	case "ownport", "spoof":
		body = udp(6000)
	case "otherport":
		body = udp(7000)
	case "frag":
		body, frag = udp(6000), 0x2000 // MF
	case "fragoff":
		body, frag = udp(6000), 0x0010 // offset 128 bytes
	case "lsrr", "ssrr":
		typ := byte(0x83)
		if kind == "ssrr" {
			typ = 0x89
		}
		opts = append([]byte{typ, 7, 4}, dst[:]...)
		opts = append(opts, 0) // end of options
		body = udp(6000)
	case "redirect":
		proto = unix.IPPROTO_ICMP
		inner := append([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0}, dst[:]...)
		inner = append(inner, src[:]...)
		inner = append(inner, udp(6000)[:8]...)
		body = append([]byte{5, 1, 0, 0, src[0], src[1], src[2], src[3]}, inner...)
		body = append(body, mark...)
		binary.BigEndian.PutUint16(body[2:], csum(body))
	case "unreach":
		proto = unix.IPPROTO_ICMP
		body = append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, mark...)
		binary.BigEndian.PutUint16(body[2:], csum(body))
	case "gre":
		proto = 47
		body = append([]byte{0, 0, 8, 0}, mark...)
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	ihl := 20 + len(opts)
	h := make([]byte, 20, ihl)
	h[0], h[8], h[9] = byte(0x40|ihl/4), 64, proto
	binary.BigEndian.PutUint16(h[2:], uint16(ihl+len(body)))
	binary.BigEndian.PutUint16(h[6:], frag)
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	pkt := append(append(h, opts...), body...)
	if err := unix.Sendto(fd, pkt, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		fmt.Println("send failed:", err)
		return nil
	}
	fmt.Println("sent")
	return nil
}

// listen counts the packets with mark that a raw socket of proto gets.
func listen(proto int, d time.Duration, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, proto)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, 100*time.Millisecond)
	fmt.Println("ready")
	n, buf := 0, make([]byte, 65536)
	for end := time.Now().Add(d); time.Now().Before(end); {
		m, _, err := unix.Recvfrom(fd, buf, 0)
		if err == nil && bytes.Contains(buf[:m], mark) {
			n++
		}
	}
	fmt.Println("got", n)
	return nil
}

// tamper tries what would free a raw socket from its confinement.
func tamper() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	all := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}}
	prog := unix.SockFprog{Len: 1, Filter: &all[0]}
	mark, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK)
	fmt.Printf("mark=%#x detach=%v attach=%v unlock=%v setmark=%v\n", mark,
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0),
		unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_LOCK_FILTER, 0),
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, 0))
	return nil
}

func many(n int) error {
	for i := range n {
		if _, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP); err != nil {
			fmt.Printf("opened %d, then: %v\n", i, err)
			return nil
		}
	}
	fmt.Printf("opened %d\n", n)
	return nil
}

func rtt(dst [4]byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, time.Second)
	buf := make([]byte, 1500)
	id := uint16(os.Getpid())
	t0 := time.Now()
	for seq := range n {
		if err := unix.Sendto(fd, echo(id, uint16(seq), []byte("rtt")), 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
			return err
		}
		for {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return err
			}
			ihl := int(buf[0]&0xf) * 4
			if m >= ihl+8 && buf[ihl] == 0 && binary.BigEndian.Uint16(buf[ihl+4:]) == id && binary.BigEndian.Uint16(buf[ihl+6:]) == uint16(seq) {
				break
			}
		}
	}
	fmt.Println(time.Since(t0).Nanoseconds() / int64(n))
	return nil
}

// rawUDP sends a datagram from sport through a raw UDP socket (the kernel
// writes the IP header) and waits for a datagram back to sport.
func rawUDP(dst [4]byte, sport, dport uint16, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, 2*time.Second)
	b := append([]byte{byte(sport >> 8), byte(sport), byte(dport >> 8), byte(dport), 0, 0, 0, 0}, mark...)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		fmt.Println("send failed:", err)
		return nil
	}
	buf := make([]byte, 65536)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			fmt.Println("no reply:", err)
			return nil
		}
		ihl := int(buf[0]&0xf) * 4
		if n >= ihl+8 && binary.BigEndian.Uint16(buf[ihl+2:]) == sport && bytes.Contains(buf[ihl+8:n], mark) {
			fmt.Println("reply")
			return nil
		}
	}
}

func dgramRTT(dst [4]byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("icmp datagram socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, time.Second)
	buf := make([]byte, 1500)
	t0 := time.Now()
	for seq := range n {
		if err := unix.Sendto(fd, echo(0, uint16(seq), []byte("rtt")), 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
			return err
		}
		for {
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				return err
			}
			if m >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[6:]) == uint16(seq) {
				break
			}
		}
	}
	fmt.Println(time.Since(t0).Nanoseconds() / int64(n))
	return nil
}

func relayRTT(sock string, dst netip.Addr, n int) error {
	ctx := context.Background()
	c, err := wire.Dial(ctx, sock, wire.ProtoICMP, 0)
	if err != nil {
		return fmt.Errorf("raw socket service: %w", err)
	}
	defer c.Close()
	id := c.Port()
	t0 := time.Now()
	for seq := range n {
		if err := c.SendTo(ctx, dst, 64, echo(id, uint16(seq), []byte("rtt"))); err != nil {
			return err
		}
		for {
			pkt, err := c.Receive(ctx)
			if err != nil {
				return err
			}
			ihl := int(pkt[0]&0xf) * 4
			if len(pkt) >= ihl+8 && pkt[ihl] == 0 && binary.BigEndian.Uint16(pkt[ihl+6:]) == uint16(seq) {
				break
			}
		}
	}
	fmt.Println(time.Since(t0).Nanoseconds() / int64(n))
	return nil
}

// flood sends n 512-byte UDP datagrams through a raw UDP socket.
func flood(dst [4]byte, sport, dport uint16, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	b := make([]byte, 8+512)
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(len(b)))
	to := &unix.SockaddrInet4{Addr: dst}
	// The sending thread's CPU time is counted too: other loads on the
	// machine disturb it less than the wall clock.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r0, r1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_THREAD, &r0)
	t0 := time.Now()
	for range n {
		if err := unix.Sendto(fd, b, 0, to); err != nil && err != unix.ENOBUFS {
			return err
		}
	}
	wall := time.Since(t0).Nanoseconds()
	unix.Getrusage(unix.RUSAGE_THREAD, &r1)
	fmt.Println(wall, r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano())
	return nil
}

func rawPing6(dst [16]byte, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	setTimeout(fd, 2*time.Second)
	const id = 0x4343
	req := append([]byte{128, 0, 0, 0, id >> 8, id & 0xff, 0, 1}, mark...) // the kernel fills the checksum
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrInet6{Addr: dst}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			fmt.Println("no reply:", err)
			return nil
		}
		if n >= 8 && buf[0] == 129 && binary.BigEndian.Uint16(buf[4:]) == id && bytes.Contains(buf[8:n], mark) {
			fmt.Println("reply")
			return nil
		}
	}
}

// send6 builds one IPv6 packet of the kind and sends it whole.
func send6(kind string, src, dst [16]byte, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	udp := append([]byte{0x17, 0x70, 0x1f, 0x90, 0, 0, 0, 0}, mark...) // from 6000
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	nh, body := byte(17), udp
	switch kind {
	case "ownport", "spoof":
	case "otherport":
		udp[0], udp[1] = 0x1b, 0x58 // 7000
	case "rthdr":
		rh := append([]byte{17, 2, 0, 1, 0, 0, 0, 0}, dst[:]...)
		nh, body = 43, append(rh, udp...)
	case "frag":
		fh := []byte{17, 0, 0, 1, 0, 0, 0, 1} // offset 0, more fragments
		nh, body = 44, append(fh, udp...)
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	h := make([]byte, 40)
	h[0], h[6], h[7] = 0x60, nh, 64
	binary.BigEndian.PutUint16(h[4:], uint16(len(body)))
	copy(h[8:], src[:])
	copy(h[24:], dst[:])
	if err := unix.Sendto(fd, append(h, body...), 0, &unix.SockaddrInet6{Addr: dst}); err != nil {
		fmt.Println("send failed:", err)
		return nil
	}
	fmt.Println("sent")
	return nil
}

// initFD tries to reach a descriptor of the sliver's init (pid 1): its
// seccomp listener would let the sliver answer its own calls.
func initFD() error {
	// Listing the numbers is allowed (the sliver's root owns the
	// directory); opening or reading what they are is not.
	ents, _ := os.ReadDir("/proc/1/fd")
	var err error
	for _, e := range ents {
		f, oerr := os.Open("/proc/1/fd/" + e.Name())
		if oerr == nil {
			f.Close()
			err = nil
			break
		}
		err = oerr
	}
	if len(ents) == 0 {
		err = errors.New("no fd listed")
	}
	_, lerr := os.Readlink("/proc/1/fd/0")
	pidfd, perr := unix.PidfdOpen(1, 0)
	gerr := perr
	if perr == nil {
		var fd int
		for n := 3; n < 64 && gerr == nil; n++ {
			if fd, gerr = unix.PidfdGetfd(pidfd, n, 0); gerr == nil {
				unix.Close(fd)
				break
			} else if gerr == unix.EBADF {
				gerr = nil
			}
		}
	}
	fmt.Printf("open=%v readlink=%v getfd=%v\n", err != nil, lerr != nil, gerr != nil)
	return nil
}

func bindSend(sport uint16, dst [4]byte, dport uint16) error {
	hold, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(hold)
	if err := unix.Bind(hold, &unix.SockaddrInet4{Port: int(sport)}); err != nil {
		return fmt.Errorf("bind udp/%d: %w", sport, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	b := []byte{byte(sport >> 8), byte(sport), byte(dport >> 8), byte(dport), 0, 12, 0, 0, 'h', 'e', 'l', 'd'}
	if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		fmt.Println("send failed:", err)
		return nil
	}
	fmt.Println("sent")
	return nil
}

// recvErr sets IP_RECVERR (IPV6_RECVERR) on UDP and raw sockets from a
// thread other than the main one, and prints for each the error of the
// call and the option's value read back.
func recvErr() error {
	runtime.LockOSThread() // the main goroutine keeps the main thread
	type sock struct {
		name               string
		domain, typ, proto int
		level, opt         int
	}
	socks := []sock{
		{"udp", unix.AF_INET, unix.SOCK_DGRAM, 0, unix.SOL_IP, unix.IP_RECVERR},
		{"raw", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP, unix.SOL_IP, unix.IP_RECVERR},
		{"udp6", unix.AF_INET6, unix.SOCK_DGRAM, 0, unix.SOL_IPV6, unix.IPV6_RECVERR},
		{"raw6", unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_UDP, unix.SOL_IPV6, unix.IPV6_RECVERR},
	}
	var out []string
	for _, s := range socks {
		fd, err := unix.Socket(s.domain, s.typ, s.proto)
		if err != nil {
			return fmt.Errorf("%s socket: %w", s.name, err)
		}
		done := make(chan string)
		go func() {
			runtime.LockOSThread()
			tid := unix.Gettid()
			serr := unix.SetsockoptInt(fd, s.level, s.opt, 1)
			v, gerr := unix.GetsockoptInt(fd, s.level, s.opt)
			done <- fmt.Sprintf("%s=%v/%d/%v/main=%v", s.name, serr, v, gerr, tid == os.Getpid())
		}()
		out = append(out, <-done)
		unix.Close(fd)
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

// opens times n raw socket() calls, each after binding a fresh UDP socket
// with bind, and prints the median in ns.
func opens(n int, bind bool) error {
	took := make([]int64, 0, n)
	for range n {
		if bind {
			u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			if err != nil {
				return err
			}
			defer unix.Close(u)
			if err := unix.Bind(u, &unix.SockaddrInet4{}); err != nil {
				return err
			}
		}
		t0 := time.Now()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
		took = append(took, time.Since(t0).Nanoseconds())
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	slices.Sort(took)
	fmt.Println(took[len(took)/2])
	return nil
}
