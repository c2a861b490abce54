package portmgr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/reexec"
)

// binderEntry is the hidden entry point the tests run as a sliver's
// process: in a cgroup and under a UID of the test's choosing.
const binderEntry = "orbistest-portmgr-bind"

func init() { reexec.Register(binderEntry, binderMain) }

func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// binderMain binds each socket its arguments name, "tcp4:700",
// "udp6:700" (IPv6 only) or "tcp6d:700" (dual-stack IPv6), and prints
// one line per socket: "ok" or the errno's name. With "-hold" first it
// keeps the sockets (TCP ones listening), prints "held" and waits for
// its standard input to close.
func binderMain() {
	args := os.Args[1:]
	hold := len(args) > 0 && args[0] == "-hold"
	if hold {
		args = args[1:]
	}
	for _, a := range args {
		fd, err := bindSpec(a, hold)
		fmt.Println(result(err))
		if fd >= 0 && !hold {
			unix.Close(fd)
		}
	}
	if hold {
		fmt.Println("held")
		io.Copy(io.Discard, os.Stdin)
	}
	os.Exit(0)
}

func result(err error) string {
	var errno unix.Errno
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &errno):
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// bindSpec makes and binds the socket spec names; "tcp4@127.0.0.1:700"
// binds an IPv4 address instead of the wildcard.
func bindSpec(spec string, listen bool) (int, error) {
	kind, portStr, _ := strings.Cut(spec, ":")
	kind, addr, _ := strings.Cut(kind, "@")
	if addr != "" {
		i := strings.LastIndexByte(spec, ':')
		kind, addr, _ = strings.Cut(spec[:i], "@")
		portStr = spec[i+1:]
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || len(kind) < 4 {
		return -1, fmt.Errorf("bad spec %q", spec)
	}
	typ := unix.SOCK_DGRAM
	if kind[:3] == "tcp" {
		typ = unix.SOCK_STREAM
	}
	sa4 := &unix.SockaddrInet4{Port: port}
	if addr != "" {
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return -1, fmt.Errorf("bad spec %q", spec)
		}
		sa4.Addr = a.As4()
	}
	family, sa := unix.AF_INET, unix.Sockaddr(sa4)
	if kind[3] == '6' {
		family, sa = unix.AF_INET6, &unix.SockaddrInet6{Port: port}
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if family == unix.AF_INET6 {
		v6only := 1
		if strings.HasSuffix(kind, "d") {
			v6only = 0
		}
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if listen && typ == unix.SOCK_STREAM {
		unix.Listen(fd, 1)
	}
	return fd, nil
}

// readLines reads n lines.
func readLines(r *bufio.Reader, n int) ([]string, error) {
	var out []string
	for range n {
		l, err := r.ReadString('\n')
		if err != nil {
			return out, err
		}
		out = append(out, strings.TrimSuffix(l, "\n"))
	}
	return out, nil
}
