package portmgr

import (
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestReadHoldersNow: sock_diag reports the same sockets as the /proc
// tables, in both families (ReadHoldersNow, boundSocketsNow), and BoundBy
// the listeners and UDP sockets of a UID range, in a network namespace of
// the test's own.
func TestReadHoldersNow(t *testing.T) {
	testutil.RequireRoot(t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The thread ends with the goroutine, in its namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := checkDiag(); err != nil {
			t.Error(err)
		}
	}()
	<-done
}

// checkDiag runs in a network namespace of its own.
func checkDiag() error {
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("lo up: %v: %s", err, out)
	}
	const uid = 4242
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	open := func(domain, typ, port int) (int, error) {
		fd, err := unix.Socket(domain, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		fds = append(fds, fd)
		var sa unix.Sockaddr = &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
		if domain == unix.AF_INET6 {
			sa = &unix.SockaddrInet6{Port: port}
		}
		if err := unix.Bind(fd, sa); err != nil {
			return -1, err
		}
		if typ == unix.SOCK_STREAM {
			return fd, unix.Listen(fd, 4)
		}
		return fd, nil
	}
	// A socket's owner is the creating thread's fsuid.
	unix.Setfsuid(uid)
	for _, s := range []struct{ domain, typ, port int }{
		{unix.AF_INET, unix.SOCK_STREAM, 7001}, {unix.AF_INET6, unix.SOCK_STREAM, 7002},
		{unix.AF_INET, unix.SOCK_DGRAM, 7003}, {unix.AF_INET6, unix.SOCK_DGRAM, 7004},
	} {
		if _, err := open(s.domain, s.typ, s.port); err != nil {
			unix.Setfsuid(0)
			return err
		}
	}
	unix.Setfsuid(0)
	// The node's connection to a listener: its ephemeral port is the
	// node's, and the connection's other end the listener's owner's.
	c, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	fds = append(fds, c)
	if err := unix.Connect(c, &unix.SockaddrInet4{Port: 7001, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	resolve := func(u uint32) (string, bool) { return "s", u == uid }
	now, err := ReadHoldersNow(resolve, nil)
	if err != nil {
		return err
	}
	proc, err := ReadHolders("/proc/thread-self", resolve, nil)
	if err != nil {
		return err
	}
	for _, proto := range []string{"tcp", "udp"} {
		a, b := sockList(now.socks[proto]), sockList(proc.socks[proto])
		if !slices.Equal(a, b) {
			return fmt.Errorf("%s sockets: sock_diag %v, /proc %v", proto, a, b)
		}
	}
	if n := len(now.socks["tcp"]); n != 4 {
		return fmt.Errorf("sock_diag saw %d TCP sockets, want 2 listeners and the connection's 2 ends", n)
	}
	e1, err1 := boundSocketsNow(resolve)
	e2, err2 := boundSockets("/proc/thread-self", resolve)
	sortEntries(e1)
	sortEntries(e2)
	if err1 != nil || err2 != nil || !slices.Equal(e1, e2) {
		return fmt.Errorf("bound entries: sock_diag %v (%v), /proc %v (%v)", e1, err1, e2, err2)
	}
	bound, err := BoundBy(uid, uid)
	if err != nil {
		return err
	}
	slices.SortFunc(bound, func(a, b api.Port) int { return int(a.Port) - int(b.Port) })
	if got := fmt.Sprint(bound); got != "[{tcp 7001} {tcp 7002} {udp 7003} {udp 7004}]" {
		return fmt.Errorf("BoundBy: %s", got)
	}
	return nil
}

func sockList(ss []procSock) []string {
	var out []string
	for _, s := range ss {
		out = append(out, fmt.Sprintf("%s:%d/%x/%d", s.addr, s.port, s.state, s.uid))
	}
	slices.Sort(out)
	return out
}

// BenchmarkReadHolders: one reading of who holds which port, from /proc
// and through sock_diag (ReadHoldersNow), and the listeners alone
// (BoundBy), in the test process's network namespace.
func BenchmarkReadHolders(b *testing.B) {
	nobody := func(uint32) (string, bool) { return "", false }
	b.Run("proc", func(b *testing.B) {
		for b.Loop() {
			if _, err := ReadHolders("/proc/thread-self", nobody, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sock_diag", func(b *testing.B) {
		for b.Loop() {
			if _, err := ReadHoldersNow(nobody, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("listeners", func(b *testing.B) {
		for b.Loop() {
			if _, err := BoundBy(1, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
