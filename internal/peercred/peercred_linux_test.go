package peercred

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestOf(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := Of(s)
	if err != nil {
		t.Fatalf("Of: %v", err)
	}
	want := Cred{PID: int32(os.Getpid()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if got != want {
		t.Errorf("Of = %+v, want %+v", got, want)
	}
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if _, err := Of(p1); err == nil {
		t.Error("Of(pipe) = nil error, want one")
	}
}

// TestOfTCP: the peer of a TCP connection from a socket of this host is
// that socket's owner; once the peer closed its end it is no one
// (ErrNoPeer), and a Limited listener counts such connections against
// their address.
func TestOfTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := Of(s)
	if err != nil || got.UID != uint32(os.Getuid()) {
		t.Fatalf("Of(tcp) = %+v, %v; want UID %d", got, err, os.Getuid())
	}
	c.Close()
	if _, err := Of(s); !errors.Is(err, ErrNoPeer) {
		t.Errorf("Of(tcp) after the peer closed: %v, want ErrNoPeer", err)
	}
}

// TestLimitedTotal: Total bounds every key's connections together, Max
// each key's, and a connection given back frees its slot.
func TestLimitedTotal(t *testing.T) {
	l := &Limited{Max: 2, Total: 3}
	for _, c := range []struct {
		key  string
		want string
	}{
		{"a", ""}, {"a", ""}, {"a", "too many connections"},
		{"b", ""}, {"b", "too many connections of all callers"}, {"c", "too many connections of all callers"},
	} {
		if got := l.take(c.key); got != c.want {
			t.Errorf("take(%s) = %q, want %q", c.key, got, c.want)
		}
	}
	l.give("a")
	if got := l.take("c"); got != "" || l.Open("a") != 1 || l.Open("c") != 1 {
		t.Errorf("after a's slot was given back: take(c) = %q, open a %d, c %d", got, l.Open("a"), l.Open("c"))
	}
}

func TestAddrOf(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:33080":         "127.0.0.1",
		"[::ffff:10.0.0.1]:80":    "10.0.0.1",
		"[2001:db8:1:2:3::4]:443": "2001:db8:1:2::/64",
	} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := addrOf(a); got != want {
			t.Errorf("addrOf(%s) = %s, want %s", in, got, want)
		}
	}
}
