//go:build linux

package nettest

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/orbisproject/orbis/internal/reexec"
	"golang.org/x/sys/unix"
)

// senderEntry is the hidden entry point of the UDP sender.
const senderEntry = "orbistest-udpsend"

func init() { reexec.Register(senderEntry, senderMain) }

// Send describes one sender process.
type Send struct {
	TCP     bool           // a TCP stream instead of UDP datagrams
	UID     uint32         // host UID (and GID) to run as
	To      netip.AddrPort // destination in the receiving namespace
	For     time.Duration  // how long to send
	Payload int            // bytes per datagram, or per write for TCP (default 1400)
	Count   int            // stop after this many writes (0: no limit)
	Gap     time.Duration  // pause between writes (0: as fast as the socket takes them)
	Batch   int            // UDP datagrams per sendmmsg call (0 or 1: one write each)
	// Echoes: the receiver echoes each datagram (Listen with echo), and
	// the sender waits for the echoes (at most 5 s) before it closes its
	// socket, so that no echo arrives at a closed port and makes the
	// kernel answer with an ICMP error of the sender's flow.
	Echoes bool
}

// Start runs s as a separate process with UID s.UID inside p's sending
// namespace; t.Cleanup kills it if it is still running. Wait on the result
// to know it has finished.
func Start(t testing.TB, p *Pair, s Send) *exec.Cmd {
	t.Helper()
	if s.Payload == 0 {
		s.Payload = 1400
	}
	mode := "udp"
	if s.TCP {
		mode = "tcp"
	}
	cmd := reexec.Command(senderEntry, mode, p.SendNS, s.To.String(), s.For.String(),
		strconv.Itoa(s.Payload), strconv.Itoa(s.Count), s.Gap.String(), strconv.Itoa(max(s.Batch, 1)), strconv.FormatBool(s.Echoes))
	cmd.Stderr = os.Stderr
	// The process runs as the sliver's UID from its first instruction; it
	// keeps CAP_SYS_ADMIN only to join the namespace, then drops it
	// before opening its socket, whose owner is thus s.UID.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: s.UID, Gid: s.UID},
		AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sender: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}

// senderMain is the sender process: args are the mode (udp or tcp), the
// namespace path, the destination, the duration, the payload size, the
// count, the gap, the batch and whether to wait for echoes.
func senderMain() {
	if err := send(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sender:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func send(args []string) error {
	if len(args) != 9 {
		return fmt.Errorf("want 9 arguments, got %d", len(args))
	}
	dst, err := netip.ParseAddrPort(args[2])
	if err != nil {
		return err
	}
	dur, _ := time.ParseDuration(args[3])
	size, _ := strconv.Atoi(args[4])
	count, _ := strconv.Atoi(args[5])
	gap, _ := time.ParseDuration(args[6])
	batch, _ := strconv.Atoi(args[7])
	echoes, _ := strconv.ParseBool(args[8])
	typ := unix.SOCK_DGRAM
	if args[0] == "tcp" {
		typ = unix.SOCK_STREAM
	}
	runtime.LockOSThread()
	fd, err := socketIn(args[1], typ, dst)
	if err != nil {
		return err
	}
	write := writer(fd, typ, size, batch)
	end := time.Now().Add(dur)
	n := 0
	for ; time.Now().Before(end) && (count == 0 || n < count); n++ {
		if err := write(); err != nil {
			return err
		}
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	if echoes && typ == unix.SOCK_DGRAM {
		awaitEchoes(fd, n*max(batch, 1), size)
	}
	return unix.Close(fd)
}

// awaitEchoes reads up to n echoed datagrams from fd, for at most 5 s.
func awaitEchoes(fd, n, size int) {
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 1})
	buf := make([]byte, size+1)
	deadline := time.Now().Add(5 * time.Second)
	for got := 0; got < n && time.Now().Before(deadline); {
		if _, err := unix.Read(fd, buf); err == nil {
			got++
		}
	}
}

// writer returns what sends one write of size bytes on the connected
// socket fd of type typ: for UDP, batch datagrams in one sendmmsg call when
// batch is over 1, and errors (ENOBUFS when the queue is full) just mean
// "later"; for TCP, a failed write ends the sender.
func writer(fd, typ, size, batch int) func() error {
	buf := make([]byte, size)
	if typ == unix.SOCK_STREAM {
		return func() error {
			if _, err := unix.Write(fd, buf); err != nil && !errors.Is(err, unix.EINTR) {
				return fmt.Errorf("write: %w", err)
			}
			return nil
		}
	}
	if batch <= 1 {
		return func() error { unix.Write(fd, buf); return nil }
	}
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(size)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range msgs {
		msgs[i].Hdr.Iov = &iov
		msgs[i].Hdr.SetIovlen(1)
	}
	return func() error {
		unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(batch), 0, 0, 0)
		return nil
	}
}

// socketIn joins the namespace at ns on this (locked) thread, drops every
// capability, and opens a socket of type typ connected to dst.
func socketIn(ns string, typ int, dst netip.AddrPort) (int, error) {
	nsfd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", ns, err)
	}
	if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("setns: %w", err)
	}
	unix.Close(nsfd)
	if err := dropCaps(); err != nil {
		return -1, err
	}
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: int(dst.Port()), Addr: dst.Addr().As16()})
	if dst.Addr().Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, sa); err != nil {
		return -1, fmt.Errorf("connect %s: %w", dst, err)
	}
	return fd, nil
}

// dropCaps clears this thread's capabilities (the process has one thread
// that matters: this locked one).
func dropCaps() error {
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	return nil
}
