//go:build linux

package nettest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/reexec"
	"golang.org/x/sys/unix"
)

// senderEntry is the hidden entry point of the UDP sender.
const senderEntry = "orbistest-udpsend"

func init() { reexec.Register(senderEntry, senderMain) }

// Send describes one sender process.
type Send struct {
	UID     uint32         // host UID (and GID) to run as
	To      netip.AddrPort // destination in the receiving namespace
	For     time.Duration  // how long to send
	Payload int            // bytes per datagram (default 1400)
	Count   int            // stop after this many datagrams (0: no limit)
	Gap     time.Duration  // pause between datagrams (0: as fast as the socket takes them)
}

// Start runs s as a separate process with UID s.UID inside p's sending
// namespace; t.Cleanup kills it if it is still running. Wait on the result
// to know it has finished.
func Start(t testing.TB, p *Pair, s Send) *exec.Cmd {
	t.Helper()
	if s.Payload == 0 {
		s.Payload = 1400
	}
	cmd := reexec.Command(senderEntry, p.SendNS, s.To.String(), s.For.String(),
		strconv.Itoa(s.Payload), strconv.Itoa(s.Count), s.Gap.String())
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

// senderMain is the sender process: args are the namespace path, the
// destination, the duration, the payload size, the count and the gap.
func senderMain() {
	if err := send(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "sender:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func send(args []string) error {
	if len(args) != 6 {
		return fmt.Errorf("want 6 arguments, got %d", len(args))
	}
	dst, err := netip.ParseAddrPort(args[1])
	if err != nil {
		return err
	}
	dur, _ := time.ParseDuration(args[2])
	size, _ := strconv.Atoi(args[3])
	count, _ := strconv.Atoi(args[4])
	gap, _ := time.ParseDuration(args[5])
	runtime.LockOSThread()
	fd, err := socketIn(args[0], dst)
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	end := time.Now().Add(dur)
	for n := 0; time.Now().Before(end) && (count == 0 || n < count); n++ {
		// Errors (ENOBUFS when the queue is full) just mean "later".
		unix.Write(fd, buf)
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	return nil
}

// socketIn joins the namespace at ns on this (locked) thread, drops every
// capability, and opens a UDP socket connected to dst.
func socketIn(ns string, dst netip.AddrPort) (int, error) {
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
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
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
