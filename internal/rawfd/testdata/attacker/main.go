// Command attacker is what a hostile slice (and its victims) run in the
// rawfd attack tests: each mode does one thing and prints what it got.
//
//	attacker errq PROTO SECS MARK          a raw socket with IP_RECVERR: count
//	                                       error-queue entries quoting MARK
//	attacker udpsend DST DPORT MARK N      N datagrams from a plain UDP socket
//	attacker pingsteal DST ID SECS MARK [reply]
//	                                       flood echo requests (replies) with
//	                                       identifier ID; count echo replies
//	                                       (requests) holding MARK
//	attacker dgramping DST ID MARK N       N echoes through an ICMP datagram
//	                                       socket bound to ID; count replies
//	                                       holding MARK and any others
//	attacker portrace PORT SECS MARK       hold UDP PORT, open a raw UDP socket,
//	                                       release PORT 2s later; count packets to PORT
//	                                       holding MARK the raw socket gets
//	attacker udpecho PORT DST DPORT MARK N bind UDP PORT as soon as it is free,
//	                                       N datagrams and their echoes
//	attacker udpserve PORT SECS            bind UDP PORT as soon as it is free,
//	                                       echo what comes for SECS
//	attacker errq6 PROTO SECS MARK         errq with IPv6 and IPV6_RECVERR
//	attacker udpsend6 DST DPORT MARK N     udpsend over IPv6
//	attacker fdfull                        a raw socket() with no descriptor
//	                                       free: its errno, or "hung"
//	attacker threads N                     N threads call socket(SOCK_RAW) at once
//	attacker killrace N                    N children each killed while in
//	                                       socket(SOCK_RAW)
//	attacker send6chain KIND SRC DST MARK  one IPv6 UDP packet from port 6000
//	                                       behind the extension headers KIND
//	attacker claimids DST                  one echo request with each of the
//	                                       65,536 identifiers
//	attacker churn SECS                    for SECS: bind a new UDP port, open
//	                                       and close a raw socket, again
//	attacker latency N                     N raw socket() calls: mean and max
//	attacker misc                          ways around the confinement; each
//	                                       says whether it was refused
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
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
		return pingSteal(addr(args[1]), uint16(atoi(args[2])), time.Duration(atoi(args[3]))*time.Second, []byte(args[4]), len(args) > 5)
	case "dgramping":
		return dgramPing(addr(args[1]), atoi(args[2]), []byte(args[3]), atoi(args[4]))
	case "portrace":
		return portRace(atoi(args[1]), time.Duration(atoi(args[2]))*time.Second, []byte(args[3]))
	case "udpserve":
		return udpServe(atoi(args[1]), time.Duration(atoi(args[2]))*time.Second)
	case "errq6":
		return errq6(atoi(args[1]), time.Duration(atoi(args[2]))*time.Second, []byte(args[3]))
	case "udpsend6":
		return udpSend6(netip.MustParseAddr(args[1]).As16(), atoi(args[2]), []byte(args[3]), atoi(args[4]))
	case "fdfull":
		return fdFull()
	case "threads":
		return threads(atoi(args[1]))
	case "killrace":
		return killRace(atoi(args[1]))
	case "rawonce":
		unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		time.Sleep(time.Second)
		return nil
	case "send6chain":
		return send6Chain(args[1], netip.MustParseAddr(args[2]).As16(), netip.MustParseAddr(args[3]).As16(), []byte(args[4]))
	case "claimids":
		return claimIDs(addr(args[1]))
	case "churn":
		return churn(time.Duration(atoi(args[1])) * time.Second)
	case "latency":
		return latency(atoi(args[1]))
	case "misc":
		return misc()
	case "udpecho":
		return udpEcho(atoi(args[1]), addr(args[2]), atoi(args[3]), []byte(args[4]), atoi(args[5]))
	}
	return fmt.Errorf("unknown mode %q", args[0])
}

func setTimeout(fd int, d time.Duration) {
	tv := unix.NsecToTimeval(d.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

func echo(id, seq uint16, payload []byte) []byte {
	b := append([]byte{8, 0, 0, 0, byte(id >> 8), byte(id), byte(seq >> 8), byte(seq)}, payload...)
	binary.BigEndian.PutUint16(b[2:], wire.Checksum(b))
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
// it pings, and counts the replies to that slice's echoes it gets. With
// reply, it sends echo replies with the identifier of someone pinging the
// node, and counts their echo requests it gets.
func pingSteal(dst [4]byte, id uint16, d time.Duration, mark []byte, reply bool) error {
	send, want := byte(8), byte(0)
	if reply {
		send, want = 0, 8
	}
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
		e := echo(id, seq, []byte("attacker-injected"))
		if send == 0 {
			e[0], e[2], e[3] = 0, 0, 0
			binary.BigEndian.PutUint16(e[2:], wire.Checksum(e))
		}
		unix.Sendto(fd, e, 0, &unix.SockaddrInet4{Addr: dst})
		for {
			m, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil {
				break
			}
			ihl := int(buf[0]&0xf) * 4
			if m >= ihl+8 && buf[ihl] == want && bytes.Contains(buf[ihl+8:m], mark) {
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
	n, buf := 0, make([]byte, 65536)
	// What came while the port was the slice's is the slice's: only what
	// comes after counts.
	for {
		if _, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT); err != nil {
			break
		}
	}
	fmt.Println("released")
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

func errq6(proto int, d time.Duration, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, proto)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_RECVERR, 1); err != nil {
		return fmt.Errorf("IPV6_RECVERR: %w", err)
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

func udpSend6(dst [16]byte, dport int, mark []byte, n int) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for range n {
		unix.Sendto(fd, mark, 0, &unix.SockaddrInet6{Addr: dst, Port: dport})
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("sent")
	return nil
}

// fdFull fills the descriptor table, then asks for a raw socket: the
// answer must be an error, not a call that never returns.
func fdFull() error {
	time.Sleep(time.Millisecond) // the runtime's poller takes its descriptor now
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: 32, Max: 32}); err != nil {
		return err
	}
	for {
		if _, err := unix.Open("/dev/null", unix.O_RDONLY, 0); err != nil {
			break
		}
	}
	res := make(chan error, 1)
	go func() {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err == nil {
			unix.Close(fd)
		}
		res <- err
	}()
	select {
	case err := <-res:
		fmt.Println("result:", err)
	case <-time.After(5 * time.Second):
		fmt.Println("hung")
	}
	return nil
}

// threads has n threads call socket(SOCK_RAW) at once and counts what
// they got.
func threads(n int) error {
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	var fds []int
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			<-start
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				got[err.Error()]++
				return
			}
			got["ok"]++
			fds = append(fds, fd)
		}()
	}
	close(start)
	wg.Wait()
	for _, fd := range fds {
		unix.Close(fd)
	}
	fmt.Printf("ok %d emfile %d other %d\n", got["ok"], got[unix.EMFILE.Error()], n-got["ok"]-got[unix.EMFILE.Error()])
	return nil
}

// killRace starts n children that each open a raw socket and kills each
// a moment after it starts, so that many die while the agent answers.
func killRace(n int) error {
	for i := range n {
		c := exec.Command("/proc/self/exe", "rawonce")
		if err := c.Start(); err != nil {
			return err
		}
		time.Sleep(time.Duration(i%7) * 300 * time.Microsecond)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
	}
	fmt.Println("done")
	return nil
}

// misc tries, as the sliver's root, what would get it past the
// confinement, and prints for each whether it was refused.
func misc() error {
	refused := func(err error) string {
		if err != nil {
			return "refused"
		}
		return "ALLOWED"
	}
	var out []string
	say := func(what string, err error) { out = append(out, what+"="+refused(err)) }
	// Packet sockets are the agent's, confined (packet_linux_test.go);
	// not of a type or protocol it does not know.
	_, err := unix.Socket(unix.AF_PACKET, unix.SOCK_PACKET, 0x0300)
	say("packetlegacy", err)
	_, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0x10300)
	say("packetproto", err)
	_, err = unix.Socket(unix.AF_INET, unix.SOCK_PACKET, 0x0300)
	say("sockpacket", err)
	_, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, -1)
	say("protoneg", err)
	_, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|0x4000, unix.IPPROTO_ICMP)
	say("badflag", err)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	say("transparent", unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_TRANSPARENT, 1))
	say("setmark", unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, 1))
	bpf := []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff}}
	say("reuseportcbpf", unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &unix.SockFprog{Len: 1, Filter: &bpf[0]}))
	// SO_MARK as a control message of one sendmsg.
	cm := make([]byte, unix.CmsgSpace(4))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&cm[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SO_MARK
	h.SetLen(unix.CmsgLen(4))
	pkt := make([]byte, 28)
	pkt[0], pkt[8], pkt[9] = 0x45, 64, unix.IPPROTO_UDP
	pkt[3] = 28
	copy(pkt[12:], []byte{127, 0, 0, 1})
	copy(pkt[16:], []byte{127, 0, 0, 1})
	say("markcmsg", unix.Sendmsg(fd, pkt, cm, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}, 0))
	unix.Close(fd)
	runtime.LockOSThread()
	say("ptraceinit", unix.PtraceAttach(1))
	_, _, e := unix.Syscall(unix.SYS_IO_URING_SETUP, 8, 0, 0)
	say("iouring", errnoErr(e))
	fmt.Println(joinSp(out))
	return nil
}

func errnoErr(e unix.Errno) error {
	if e != 0 {
		return e
	}
	return nil
}

func joinSp(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

// send6Chain sends one IPv6 packet: a UDP datagram from port 6000 behind
// the chain of extension headers kind names ("hbh-dst-frag": hop-by-hop,
// then destination options, then a fragment header).
func send6Chain(kind string, src, dst [16]byte, mark []byte) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	udp := append([]byte{0x17, 0x70, 0x1f, 0x90, 0, 0, 0, 0}, mark...)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	hdr := map[string]struct {
		nh  byte
		ext func(next byte) []byte
	}{
		"hbh":  {0, func(n byte) []byte { return []byte{n, 0, 1, 4, 0, 0, 0, 0} }},
		"dst":  {60, func(n byte) []byte { return []byte{n, 0, 1, 4, 0, 0, 0, 0} }},
		"rt":   {43, func(n byte) []byte { return append([]byte{n, 2, 0, 1, 0, 0, 0, 0}, dst[:]...) }},
		"frag": {44, func(n byte) []byte { return []byte{n, 0, 0, 1, 0, 0, 0, 7} }},
		// a non-first fragment: offset 8 bytes, the last one
		"fragn": {44, func(n byte) []byte { return []byte{n, 0, 0, 8, 0, 0, 0, 8} }},
		"ah":    {51, func(n byte) []byte { return []byte{n, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0} }},
	}
	var chain []string
	for _, k := range bytes.Split([]byte(kind), []byte("-")) {
		if _, ok := hdr[string(k)]; !ok && string(k) != "none" {
			return fmt.Errorf("unknown header %q", k)
		}
		if string(k) != "none" {
			chain = append(chain, string(k))
		}
	}
	nh, body := byte(17), udp
	for i := len(chain) - 1; i >= 0; i-- {
		h := hdr[chain[i]]
		body = append(h.ext(nh), body...)
		nh = h.nh
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

// claimIDs sends one echo request with every identifier, so that each is
// the slice's for the next two minutes.
func claimIDs(dst [4]byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
	if err != nil {
		return fmt.Errorf("raw socket: %w", err)
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20)
	sent := 0
	for id := range 1 << 16 {
		for {
			err := unix.Sendto(fd, echo(uint16(id), 0, []byte("claim")), 0, &unix.SockaddrInet4{Addr: dst})
			if err == nil {
				sent++
				break
			}
			if err != unix.ENOBUFS && err != unix.EAGAIN {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	fmt.Println("claimed", sent)
	return nil
}

// churn changes the slice's ports before each raw socket() call, so that
// the agent has the table changed for each.
func churn(d time.Duration) error {
	fmt.Println("ready")
	n, prev := 0, -1
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		u, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return err
		}
		unix.Bind(u, &unix.SockaddrInet4{Port: 20000 + n%20000})
		if prev >= 0 {
			unix.Close(prev)
		}
		prev = u
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		if err == nil {
			unix.Close(fd)
		}
	}
	fmt.Println("calls", n)
	return nil
}

func latency(n int) error {
	var total, most time.Duration
	for range n {
		t0 := time.Now()
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		d := time.Since(t0)
		if err != nil {
			return err
		}
		unix.Close(fd)
		total += d
		most = max(most, d)
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("mean_us %d max_us %d\n", (total / time.Duration(n)).Microseconds(), most.Microseconds())
	return nil
}

// udpServe binds port as soon as it can and echoes datagrams for d.
func udpServe(port int, d time.Duration) error {
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
	fmt.Println("bound")
	n, buf := 0, make([]byte, 65536)
	setTimeout(fd, 50*time.Millisecond)
	for end := time.Now().Add(d); time.Now().Before(end); {
		m, from, err := unix.Recvfrom(fd, buf, 0)
		if err == nil {
			unix.Sendto(fd, buf[:m], 0, from)
			n++
		}
	}
	fmt.Println("served", n)
	return nil
}
