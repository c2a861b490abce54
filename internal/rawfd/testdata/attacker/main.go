// Command attacker is what a hostile slice (and its victims) run in the
// rawfd attack tests: each mode does one thing and prints what it got.
//
//	attacker errq PROTO SECS MARK          a raw socket with IP_RECVERR: count
//	                                       error-queue entries quoting MARK
//	attacker udpsend DST DPORT MARK N      N datagrams from a plain UDP socket
//	attacker pingsteal DST ID SECS MARK    flood echo requests with identifier
//	                                       ID; count echo replies holding MARK
//	attacker dgramping DST ID MARK N       N echoes through an ICMP datagram
//	                                       socket bound to ID; count replies
//	                                       holding MARK and any others
//	attacker portrace PORT SECS MARK       hold UDP PORT, open a raw UDP socket,
//	                                       release PORT 2s later; count packets to PORT
//	                                       holding MARK the raw socket gets
//	attacker udpecho PORT DST DPORT MARK N bind UDP PORT as soon as it is free,
//	                                       N datagrams and their echoes
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func addr(s string) [4]byte { return netip.MustParseAddr(s).As4() }

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("no mode")
	}
	switch args[0] {
	case "errq":
		return errq(atoi(args[1]), time.Duration(atoi(args[2]))*time.Second, []byte(args[3]))
	case "udpsend":
		return udpSend(addr(args[1]), atoi(args[2]), []byte(args[3]), atoi(args[4]))
	case "pingsteal":
		return pingSteal(addr(args[1]), uint16(atoi(args[2])), time.Duration(atoi(args[3]))*time.Second, []byte(args[4]))
	case "dgramping":
		return dgramPing(addr(args[1]), atoi(args[2]), []byte(args[3]), atoi(args[4]))
	case "portrace":
		return portRace(atoi(args[1]), time.Duration(atoi(args[2]))*time.Second, []byte(args[3]))
	case "udpecho":
		return udpEcho(atoi(args[1]), addr(args[2]), atoi(args[3]), []byte(args[4]), atoi(args[5]))
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func setTimeout(fd int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
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

func echo(id, seq uint16, payload []byte) []byte {
	b := append([]byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}, payload...)
	binary.BigEndian.PutUint16(b[2:], csum(b))
	return b
}

// errq reads the error queue of a raw socket of proto with IP_RECVERR on:
// the kernel queues there the ICMP errors about any packet of proto whose
// addresses the (unbound) socket matches, whoever sent it.
func errq(proto int, d time.Duration, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, proto)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_RECVERR, 1); err != nil {
		return fmt.Errorf("IP_RECVERR: %w", err)
	}
	fmt.Println("ready")
	n, buf, oob := 0, make([]byte, 65536), make([]byte, 512)
	for end := time.Now().Add(d); time.Now().Before(end); {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLERR}}
		unix.Poll(pfd, 50)
		m, _, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
		if err == nil && bytes.Contains(buf[:m], mark) {
			n++
		}
	}
	fmt.Println("got", n)
	return nil
}

func udpSend(dst [4]byte, dport int, mark []byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for range n {
		unix.Sendto(fd, mark, 0, &unix.SockaddrInet4{Addr: dst, Port: dport})
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("sent")
	return nil
}

// pingSteal sends echo requests with another slice's identifier to where
// it pings, and counts the replies to that slice's echoes it gets.
func pingSteal(dst [4]byte, id uint16, d time.Duration, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	fmt.Println("ready")
	n, buf := 0, make([]byte, 65536)
	seq := uint16(30000)
	for end := time.Now().Add(d); time.Now().Before(end); {
		seq++
		unix.Sendto(fd, echo(id, seq, []byte("attacker-injected")), 0, &unix.SockaddrInet4{Addr: dst})
		for {
			m, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			ihl := int(buf[0]&0xf) * 4
			if m >= ihl+8 && buf[ihl] == 0 && bytes.Contains(buf[ihl+8:m], mark) {
				n++
			}
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Println("got", n)
	return nil
}

// dgramPing pings through an ICMP datagram socket bound to identifier id
// and counts the replies to its own echoes and the others it is handed.
func dgramPing(dst [4]byte, id int, mark []byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("icmp datagram socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: id}); err != nil {
		return fmt.Errorf("bind identifier %d: %w", id, err)
	}
	fmt.Println("ready")
	own, other, buf := 0, 0, make([]byte, 65536)
	for seq := range n {
		unix.Sendto(fd, echo(0, uint16(seq), mark), 0, &unix.SockaddrInet4{Addr: dst})
		for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
			setTimeout(fd, 10*time.Millisecond)
			m, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil || m < 8 || buf[0] != 0 {
				continue
			}
			if bytes.Contains(buf[8:m], mark) {
				own++
			} else {
				other++
			}
		}
	}
	fmt.Printf("own %d other %d\n", own, other)
	return nil
}

// portRace holds UDP port, opens a raw UDP socket (so the port is the
// slice's in the table), releases the port, and counts what reaches the
// raw socket for the port afterwards.
func portRace(port int, d time.Duration, mark []byte) error {
	u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(u, &unix.SockaddrInet4{Port: port}); err != nil {
		return fmt.Errorf("bind %d: %w", port, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	fmt.Println("holding")
	time.Sleep(2 * time.Second) // the victim waits for the port meanwhile
	unix.Close(u)
	fmt.Println("released")
	n, buf := 0, make([]byte, 65536)
	setTimeout(fd, 50*time.Millisecond)
	for end := time.Now().Add(d); time.Now().Before(end); {
		m, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue
		}
		ihl := int(buf[0]&0xf) * 4
		if m >= ihl+8 && int(binary.BigEndian.Uint16(buf[ihl+2:])) == port && bytes.Contains(buf[ihl+8:m], mark) {
			n++
		}
	}
	fmt.Println("got", n)
	return nil
}

// udpEcho binds port as soon as it can, then sends n datagrams to dst and
// counts their echoes.
func udpEcho(port int, dst [4]byte, dport int, mark []byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	fmt.Println("waiting")
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		err := unix.Bind(fd, &unix.SockaddrInet4{Port: port})
		if err == nil {
			break
		}
		if time.Now().After(end) {
			return fmt.Errorf("bind %d: %w", port, err)
		}
	}
	got, buf := 0, make([]byte, 65536)
	setTimeout(fd, 30*time.Millisecond)
	for range n {
		unix.Sendto(fd, mark, 0, &unix.SockaddrInet4{Addr: dst, Port: dport})
		if m, _, err := unix.Recvfrom(fd, buf, 0); err == nil && bytes.Contains(buf[:m], mark) {
			got++
		}
	}
	fmt.Println("echoes", got)
	return nil
}
