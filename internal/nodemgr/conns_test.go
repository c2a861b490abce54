package nodemgr

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

const connsChildName = "orbistest-nodemgr-conns"

func init() { reexec.Register(connsChildName, connsChild) }

// connsChild opens N connections to a socket, all held at once, sends a
// call on each, prints how many were answered, and holds them until its
// standard input ends. Arguments: socket, N.
func connsChild() {
	n, _ := strconv.Atoi(os.Args[2])
	var conns []net.Conn
	for range n {
		c, err := net.Dial("unix", os.Args[1])
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	answered := 0
	for _, c := range conns {
		fmt.Fprint(c, "GET /v1/list HTTP/1.1\r\nHost: nm\r\n\r\n")
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && strings.HasPrefix(line, "HTTP/1.1 ") {
			answered++
		}
	}
	fmt.Println(answered)
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// TestConnsPerCaller: on the socket anyone may open, a caller holds at
// most MaxConnsPerCaller connections at a time (a slice's UIDs together);
// the rest are closed at accept. Another caller has its own bound, root
// has none, and a caller's connections count no more once closed.
func TestConnsPerCaller(t *testing.T) {
	testutil.RequireRoot(t)
	e := newEnv(t)
	e.bind("pl_many", e.acquire(api.Rspec{Privileges: sliverRights}))
	e.bind("pl_two", e.acquire(api.Rspec{Privileges: sliverRights}))
	dir, err := os.MkdirTemp("", "orbistest-nmconns-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "nm.sock")
	l, err := ListenShared(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.m.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); <-done })

	e.m.mu.Lock()
	base, two := e.m.slivers["pl_many"].UIDBase, e.m.slivers["pl_two"].UIDBase
	e.m.mu.Unlock()
	type run struct {
		uid  uint32
		n    int
		want int
	}
	half := MaxConnsPerCaller/2 + 4
	for _, c := range []struct {
		what string
		runs []run
	}{
		{"one UID of a slice", []run{{base + 1000, MaxConnsPerCaller + 8, MaxConnsPerCaller}}},
		{"two UIDs of a slice", []run{{two + 1000, half, half}, {two + 2000, half, MaxConnsPerCaller - half}}},
		{"a host user", []run{{65534, MaxConnsPerCaller + 1, MaxConnsPerCaller}}},
		{"root", []run{{0, MaxConnsPerCaller + 8, MaxConnsPerCaller + 8}}},
	} {
		// The runs of a case hold their connections at once.
		var held []func()
		for _, r := range c.runs {
			got, release := holdConns(t, sock, r.uid, r.n)
			held = append(held, release)
			if got != r.want {
				t.Errorf("%s: uid %d answered on %d of %d connections, want %d", c.what, r.uid, got, r.n, r.want)
			}
		}
		for _, release := range held {
			release()
		}
	}
	eventually(t, "pl_many's closed connections to count no more", func() bool {
		got, release := holdConns(t, sock, base+1000, MaxConnsPerCaller)
		release()
		return got == MaxConnsPerCaller
	})
}

// holdConns runs connsChild as uid with n connections and returns how
// many were answered, and a release that ends the child and waits for
// it, so its connections are gone when it returns.
func holdConns(t *testing.T, sock string, uid uint32, n int) (int, func()) {
	t.Helper()
	line, release := testutil.RunAs(t, uid, reexec.Command(connsChildName, sock, strconv.Itoa(n)))
	got, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("uid %d: %q, %v", uid, line, err)
	}
	return got, release
}
