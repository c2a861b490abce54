package loadtest

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

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/reexec"
)

// senderEntry is the hidden entry point of a sender process.
const senderEntry = "orbistest-auditload-send"

func init() { reexec.Register(senderEntry, senderMain) }

// send describes one sender process.
type send struct {
	TCP     bool           // a TCP stream instead of UDP datagrams
	UID     uint32         // host UID (and GID) it runs as
	To      netip.AddrPort // destination in the receiving namespace
	For     time.Duration  // how long to send
	Payload int            // bytes per datagram, or per write for TCP
}

// udpBatch is how many datagrams one sendmmsg call sends.
const udpBatch = 64

// startSender runs s in a process of its own with UID s.UID inside the
// namespace ns, as a sliver's process would run; t.Cleanup kills it if it
// still runs.
func startSender(t testing.TB, ns string, s send) *exec.Cmd {
	t.Helper()
	mode := "udp"
	if s.TCP {
		mode = "tcp"
	}
	cmd := reexec.Command(senderEntry, mode, ns, s.To.String(), s.For.String(), strconv.Itoa(s.Payload))
	cmd.Stderr = os.Stderr
	// It keeps CAP_SYS_ADMIN only to join the namespace and drops it
	// before it opens its socket, whose owner is thus s.UID.
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

// senderMain is the sender process: its arguments are the mode (udp or
// tcp), the namespace path, the destination, the duration and the payload.
func senderMain() {
	if err := sender(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sender:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func sender(args []string) error {
	if len(args) != 5 {
		return fmt.Errorf("want 5 arguments, got %d", len(args))
	}
	dst, err := netip.ParseAddrPort(args[2])
	if err != nil {
		return err
	}
	dur, err := time.ParseDuration(args[3])
	if err != nil {
		return err
	}
	size, err := strconv.Atoi(args[4])
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	typ := unix.SOCK_DGRAM
	if args[0] == "tcp" {
		typ = unix.SOCK_STREAM
	}
	fd, err := socketIn(args[1], typ, dst)
	if err != nil {
		return err
	}
	end := time.Now().Add(dur)
	if typ == unix.SOCK_STREAM {
		return writeUntil(fd, size, end)
	}
	return sendUntil(fd, size, end)
}

// sendUntil sends datagrams of size bytes on the connected socket fd,
// udpBatch a call, until end.
func sendUntil(fd, size int, end time.Time) error {
	buf := make([]byte, size)
	iov := unix.Iovec{Base: &buf[0]}
	iov.SetLen(size)
	msgs := make([]unix.Mmsghdr, udpBatch)
	for i := range msgs {
		msgs[i].Hdr.Iov = &iov
		msgs[i].Hdr.SetIovlen(1)
	}
	for time.Now().Before(end) {
		// Errors (ENOBUFS when the queue is full) just mean "later".
		unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), udpBatch, 0, 0, 0)
	}
	return nil
}

// writeUntil writes size bytes at a time on the connected TCP socket fd
// until end.
func writeUntil(fd, size int, end time.Time) error {
	buf := make([]byte, size)
	for time.Now().Before(end) {
		if _, err := unix.Write(fd, buf); err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("write: %w", err)
		}
	}
	return unix.Close(fd)
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
	unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return -1, fmt.Errorf("drop capabilities: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrInet4{Port: int(dst.Port()), Addr: dst.Addr().As4()}); err != nil {
		return -1, fmt.Errorf("connect %s: %w", dst, err)
	}
	return fd, nil
}
