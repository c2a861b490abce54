// Command attacker5 is what a hostile slice runs in the rawfd attack
// tests of attack5_test.go: each mode does one thing and prints what it
// got.
//
//	attacker5 echosteal DST ID SECS MARK  teach the packet sockets' filter
//	                                      the echo flow (DST, ID) with a raw
//	                                      socket's echo request seen by a
//	                                      packet socket on every protocol,
//	                                      close that socket, then count for
//	                                      SECS the frames holding MARK a
//	                                      packet socket on IPv4 alone gets
//	attacker5 pktcount SECS MARK          count for SECS the frames holding
//	                                      MARK a packet socket on every
//	                                      protocol and device gets
//	attacker5 pktrace PORT SECS MARK      hold UDP PORT, open a packet
//	                                      socket, release PORT 2s later;
//	                                      then count for SECS the frames
//	                                      holding MARK the packet socket gets
//	attacker5 spare N                     up to N times: a child calling
//	                                      socket(SOCK_RAW) in a loop, killed
//	                                      a few ms in, until the node holds a
//	                                      raw socket of the slice that no
//	                                      process has 2.5s after the kill:
//	                                      then "still held N"
//	attacker5 rawloop                     (spare's child) socket(SOCK_RAW)
//	                                      and close, forever
//	attacker5 pktmany N SECS              N packet sockets on every protocol
//	                                      and device, each with an RX ring of
//	                                      4 MiB if it may; "ring N" says how
//	                                      many got one; held SECS, unread
//	attacker5 handoff NAME                open a packet socket and a raw UDP
//	                                      socket and hand them to the keeper
//	                                      at the abstract Unix address NAME
//	attacker5 keeper NAME SECS MARK       take the sockets handoff hands over,
//	                                      say "kept", then count for SECS the
//	                                      frames holding MARK the packet
//	                                      socket gets ("got N")
//	attacker5 rawrace PORT DST DPORT SECS MARK
//	                                      hold UDP PORT, open a raw UDP
//	                                      socket, release PORT 2s later; then
//	                                      for SECS send datagrams holding MARK
//	                                      from PORT to DST:DPORT every 5ms
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
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
	case "echosteal":
		id, _ := strconv.Atoi(args[2])
		secs, _ := strconv.Atoi(args[3])
		return echoSteal(netip.MustParseAddr(args[1]).As4(), uint16(id), time.Duration(secs)*time.Second, []byte(args[4]))
	case "pktrace":
		port, _ := strconv.Atoi(args[1])
		secs, _ := strconv.Atoi(args[2])
		return pktRace(port, time.Duration(secs)*time.Second, []byte(args[3]))
	case "spare":
		n, _ := strconv.Atoi(args[1])
		return spare(n)
	case "rawloop":
		for {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
			if err == nil {
				unix.Close(fd)
			}
		}
	case "pktmany":
		n, _ := strconv.Atoi(args[1])
		secs, _ := strconv.Atoi(args[2])
		return pktMany(n, time.Duration(secs)*time.Second)
	case "handoff":
		return handoff(args[1])
	case "keeper":
		secs, _ := strconv.Atoi(args[2])
		return keeper(args[1], time.Duration(secs)*time.Second, []byte(args[3]))
	case "rawrace":
		port, _ := strconv.Atoi(args[1])
		dport, _ := strconv.Atoi(args[3])
		secs, _ := strconv.Atoi(args[4])
		return rawRace(port, netip.MustParseAddr(args[2]).As4(), dport, time.Duration(secs)*time.Second, []byte(args[5]))
	case "pktcount":
		secs, _ := strconv.Atoi(args[1])
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("socket(AF_PACKET): %w", err)
		}
		defer unix.Close(fd)
		return count(fd, time.Duration(secs)*time.Second, []byte(args[2]))
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func echoSteal(dst [4]byte, id uint16, d time.Duration, mark []byte) error {
	learner, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET, ETH_P_ALL): %w", err)
	}
	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	req := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 'l', 'e', 'a', 'r', 'n'}
	binary.BigEndian.PutUint16(req[2:], csum(req))
	if err := unix.Sendto(raw, req, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	// The learner's filter saw the request go out: the flow is the
	// slice's now. Its reply proves it.
	tv := unix.NsecToTimeval((2 * time.Second).Nanoseconds())
	unix.SetsockoptTimeval(raw, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	buf := make([]byte, 1500)
	if n, _, err := unix.Recvfrom(raw, buf, 0); err != nil || n < 28 {
		fmt.Println("no reply to the learning echo:", err)
	} else {
		fmt.Println("learned")
	}
	unix.Close(raw)
	unix.Close(learner)
	// A packet socket of one protocol gets received frames only: no
	// filter of the slice's sees anyone's echo request go out now.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET, ETH_P_IP): %w", err)
	}
	defer unix.Close(fd)
	return count(fd, d, mark)
}

func pktRace(port int, d time.Duration, mark []byte) error {
	u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(u, &unix.SockaddrInet4{Port: port}); err != nil {
		return fmt.Errorf("bind %d: %w", port, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	defer unix.Close(fd)
	fmt.Println("holding")
	time.Sleep(2 * time.Second) // the victim waits for the port meanwhile
	unix.Close(u)
	fmt.Println("released")
	return count(fd, d, mark)
}

func spare(n int) error {
	released := 0
	for i := range n {
		c := exec.Command("/proc/self/exe", "rawloop")
		if err := c.Start(); err != nil {
			return err
		}
		time.Sleep(time.Duration(5+i%13) * time.Millisecond)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
		if held, err := rawHeld(); err != nil {
			return err
		} else if held == 0 {
			continue
		}
		// Held now: by the agent, or only while it answers a call
		// that just failed. Past the spare's second, only the first.
		time.Sleep(2500 * time.Millisecond)
		held, err := rawHeld()
		if err != nil {
			return err
		}
		if held > 0 {
			fmt.Println("tries", i+1)
			fmt.Println("still held", held)
			return nil
		}
		// Three sockets kept for killed callers, each let go in time:
		// enough to say the agent lets them go.
		if released++; released == 3 {
			fmt.Println("released", released, "after tries", i+1)
			return nil
		}
	}
	fmt.Println("never held")
	return nil
}

// rawHeld counts the raw sockets of the slice (its root, as this sliver
// sees the node's tables).
func rawHeld() (int, error) {
	b, err := os.ReadFile("/proc/net/raw")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 7 && f[7] == "0" {
			n++
		}
	}
	return n, nil
}

func pktMany(n int, d time.Duration) error {
	opened, rings := 0, 0
	for range n {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			break
		}
		opened++
		if unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2) != nil {
			continue
		}
		req := unix.TpacketReq{Block_size: 1 << 20, Block_nr: 4, Frame_size: 2048, Frame_nr: 4 << 9}
		if _, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_PACKET, unix.PACKET_RX_RING,
			uintptr(unsafe.Pointer(&req)), unsafe.Sizeof(req), 0); errno == 0 {
			rings++
		}
	}
	fmt.Println("opened", opened)
	fmt.Println("ring", rings)
	time.Sleep(d)
	return nil
}

func handoff(name string) error {
	pkt, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		return fmt.Errorf("socket(AF_PACKET): %w", err)
	}
	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	c, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(c, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		return fmt.Errorf("connect @%s: %w", name, err)
	}
	if err := unix.Sendmsg(c, []byte("fds"), unix.UnixRights(pkt, raw), nil, 0); err != nil {
		return fmt.Errorf("sendmsg: %w", err)
	}
	fmt.Println("handed")
	return nil
}

func keeper(name string, d time.Duration, mark []byte) error {
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		return fmt.Errorf("bind @%s: %w", name, err)
	}
	if err := unix.Listen(l, 1); err != nil {
		return err
	}
	fmt.Println("ready")
	c, _, err := unix.Accept(l)
	if err != nil {
		return err
	}
	buf, oob := make([]byte, 16), make([]byte, 64)
	_, oobn, _, _, err := unix.Recvmsg(c, buf, oob, 0)
	if err != nil {
		return err
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return fmt.Errorf("no descriptors: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 2 {
		return fmt.Errorf("descriptors: %v %v", fds, err)
	}
	fmt.Println("kept")
	return count(fds[0], d, mark)
}

func rawRace(port int, dst [4]byte, dport int, d time.Duration, mark []byte) error {
	u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(u, &unix.SockaddrInet4{Port: port}); err != nil {
		return fmt.Errorf("bind %d: %w", port, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	fmt.Println("holding")
	time.Sleep(2 * time.Second)
	unix.Close(u)
	fmt.Println("released")
	udp := append([]byte{byte(port >> 8), byte(port), byte(dport >> 8), byte(dport), 0, 0, 0, 0}, mark...)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	sent := 0
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if unix.Sendto(fd, udp, 0, &unix.SockaddrInet4{Addr: dst}) == nil {
			sent++
		}
	}
	fmt.Println("sent", sent)
	return nil
}

// count prints "ready", then "got N": the frames holding mark fd got in d.
func count(fd int, d time.Duration, mark []byte) error {
	tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	fmt.Println("ready")
	buf := make([]byte, 65536)
	got := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == nil && bytes.Contains(buf[:n], mark) {
			got++
		}
	}
	fmt.Println("got", got)
	return nil
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
