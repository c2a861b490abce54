package rawsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// The attacks on a node's raw socket service by one slice (orbistest-a,
// the attacker) against another (orbistest-b, the victim), each by real
// processes under the slices' UIDs in the node's namespace.

// hijackPort is the victim's web server's port (not reserved: held by
// its socket, first come, first served).
const hijackPort = 8790

// TestPortHijack: a slice that uses the victim's port only on another
// address (127.0.0.1, ::1), or only through an outgoing connection from
// it, can neither raw-bind nor sniff it, and the victim's clients still
// reach the victim. A slice that does hold a port on an address gets a
// drop of that address only, and loses its sockets once another slice
// binds the port elsewhere or its own socket that held it is gone.
func TestPortHijack(t *testing.T) {
	c, dir, sock, uid := newServiceChain(t, nil)
	attacker, victim := uid, uid+1
	// Peers the attacker's outgoing connections go to: R's [v6]:9000
	// and the node's own 127.0.0.1:9001.
	listenIn(t, c.R, "tcp6", netip.AddrPortFrom(c.ra6, 9000))
	listenIn(t, c.A, "tcp4", netip.MustParseAddrPort("127.0.0.1:9001"))

	web := startSliver(t, c.A, dir, victim, sock, "serve", netip.AddrPortFrom(c.a, hijackPort).String())
	if got := web.line(t); got != "listening" {
		t.Fatalf("victim's server said %q", got)
	}
	for _, hold := range []string{
		"tcp-listen:127.0.0.1:8790",
		"tcp-listen:[::1]:8790",
		"tcp-connect:127.0.0.1:8790>127.0.0.1:9001",
		"tcp-connect:[" + c.a6.String() + "]:8790>[" + c.ra6.String() + "]:9000",
	} {
		t.Run(hold, func(t *testing.T) {
			at := startAttacker(t, c, dir, sock, attacker, hold, "tcp/8790")
			for _, kind := range []string{"raw", "sniff"} {
				want := kind + ": refused=true raw socket service: tcp port 8790 is in use by another slice"
				if got := at.wait(t, kind+":"); got != want {
					t.Errorf("attacker holding %s: %q, want %q", hold, got, want)
				}
			}
			at.wait(t, "ready")
			visitVictim(t, c, netip.AddrPortFrom(c.a, hijackPort), "orbis-cookie-"+hold)
			at.stop(t)
			at.wantNoPacket(t, "orbis-cookie")
		})
	}
	web.lines(t)

	t.Run("VictimBindsAfter", func(t *testing.T) {
		// The attacker holds the port on every address, binds, then
		// lets its listener go: its raw and sniffer sockets end before
		// the victim serves there.
		at := startAttacker(t, c, dir, sock, attacker, "tcp-listen-close:0.0.0.0:8791", "tcp/8791")
		at.wantBound(t)
		at.wait(t, "released")
		for _, kind := range []string{"raw", "sniff"} { // in either order
			if got, want := at.wait(t, kind+" end:"), "no longer holds tcp/8791"; !strings.Contains(got, want) {
				t.Errorf("attacker's %s socket: %q, want a hang-up saying %q", kind, got, want)
			}
		}
		web := startSliver(t, c.A, dir, victim, sock, "serve", netip.AddrPortFrom(c.a, 8791).String())
		if got := web.line(t); got != "listening" {
			t.Fatalf("victim's server said %q", got)
		}
		visitVictim(t, c, netip.AddrPortFrom(c.a, 8791), "orbis-cookie-after")
		web.lines(t)
		at.stop(t)
		at.wantNoPacket(t, "orbis-cookie")
	})

}

// TestDropOfItsOwnAddressOnly: the attacker holds the port on the node's
// IPv6 address only; the victim then serves it on the IPv4 address: the
// attacker's drop and captures never touch the victim's flows, and the
// attacker loses its sockets at the next recheck (every 3s here, so that
// the victim is served before it).
func TestDropOfItsOwnAddressOnly(t *testing.T) {
	c, dir, sock, uid := newServiceChain(t, func(cfg *Config) { cfg.RecheckEvery = 3 * time.Second })
	attacker, victim := uid, uid+1
	{
		at := startAttacker(t, c, dir, sock, attacker, "tcp-listen:["+c.a6.String()+"]:8792", "tcp/8792")
		at.wantBound(t)
		web := startSliver(t, c.A, dir, victim, sock, "serve", netip.AddrPortFrom(c.a, 8792).String())
		if got := web.line(t); got != "listening" {
			t.Fatalf("victim's server said %q", got)
		}
		visitVictim(t, c, netip.AddrPortFrom(c.a, 8792), "orbis-cookie-v4")
		if got := at.wait(t, "raw end:"); !strings.Contains(got, "no longer holds tcp/8792") {
			t.Errorf("attacker's raw socket: %q, want a hang-up", got)
		}
		web.lines(t)
		at.stop(t)
		at.wantNoPacket(t, "orbis-cookie")
	}
}

// TestSniffOwnSideOnly: a sniffer on a port its slice holds sees the
// flows whose local side is that port, and neither another slice's flow
// nor the node agent's whose remote side has the same port number.
func TestSniffOwnSideOnly(t *testing.T) {
	c, dir, sock, uid := newServiceChain(t, nil)
	attacker, victim := uid, uid+1
	central := netip.AddrPortFrom(c.ra, 8793) // the peer's server, standing for central
	got := listenIn(t, c.R, "tcp4", central)

	at := startAttacker(t, c, dir, sock, attacker, "tcp-listen:0.0.0.0:8793", "tcp/8793:sniff")
	at.wait(t, "sniff: ok")
	at.wait(t, "ready")
	// The victim slice's request to the peer's port 8793, from its own
	// ephemeral port, and the agent's (this process, root) likewise.
	cl := startSliver(t, c.A, dir, victim, sock, "client", central.String(), "Authorization: Bearer orbis-victim-token")
	if out := cl.lines(t); len(out) != 1 || out[0] != "sent" {
		t.Fatalf("victim's client: %q", out)
	}
	err := nettest.InNS(c.A, func() error { return sendTo(central, "GET /slivers orbis-agent-secret") })
	if err != nil {
		t.Fatal(err)
	}
	// A flow of its own: the peer to the attacker's listener.
	err = nettest.InNS(c.R, func() error { return sendTo(netip.AddrPortFrom(c.a, 8793), "orbis-attacker-own") })
	if err != nil {
		t.Fatal(err)
	}
	at.waitPacket(t, "orbis-attacker-own")
	at.stop(t)
	at.wantNoPacket(t, "orbis-victim-token")
	at.wantNoPacket(t, "orbis-agent-secret")
	waitFor(t, "the peer's server to get the victim's and the agent's requests", func() bool { return got.count() == 2 })
}

// newServiceChain makes a chain and serves on a socket in a directory
// the slices' UIDs can reach, as startService does; it returns the
// directory, the socket and orbistest-a's UID (orbistest-b's is one more).
func newServiceChain(t *testing.T, edit func(*Config)) (*chain, string, string, uint32) {
	testutil.RequireRoot(t)
	c := newChain(t)
	dir, err := os.MkdirTemp("", "orbistest-rawsock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "rawsock.sock")
	uid := uint32(1_900_000_000 + os.Getpid()%100000*10)
	startService(t, c, sock, uid, func(cfg *Config) {
		cfg.RecheckEvery = 300 * time.Millisecond
		if edit != nil {
			edit(cfg)
		}
	})
	return c, dir, sock, uid
}

// peerServer counts the requests a test server got.
type peerServer struct {
	mu sync.Mutex
	n  int
}

func (s *peerServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// listenIn listens on TCP at addr in namespace ns, reading one line per
// connection, until the test ends.
func listenIn(t *testing.T, ns, network string, addr netip.AddrPort) *peerServer {
	t.Helper()
	var l net.Listener
	err := nettest.InNS(ns, func() (err error) {
		l, err = net.Listen(network, addr.String())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &peerServer{}
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
					s.mu.Lock()
					s.n++
					s.mu.Unlock()
				}
			}()
		}
	}()
	return s
}

// sendTo connects to addr and sends one line.
func sendTo(addr netip.AddrPort, line string) error {
	conn, err := net.DialTimeout("tcp", addr.String(), 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = io.WriteString(conn, line+"\n")
	return err
}

// visitVictim is a client at the peer R asking the victim's server at
// addr, with a cookie: it must get the victim's answer.
func visitVictim(t *testing.T, c *chain, addr netip.AddrPort, cookie string) {
	t.Helper()
	var answer string
	err := nettest.InNS(c.R, func() error {
		conn, err := net.DialTimeout("tcp4", addr.String(), 2*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(conn, "GET / "+cookie+"\n"); err != nil {
			return err
		}
		answer, err = bufio.NewReader(conn).ReadString('\n')
		return err
	})
	if want := "victim got: GET / " + cookie + "\n"; err != nil || answer != want {
		t.Fatalf("client of the victim at %s: %q, %v; want %q", addr, answer, err, want)
	}
}

// attacker is a running childAttack, its lines read as they come.
type attacker struct {
	p    *sliverProc
	done chan struct{} // closed when its output ends

	// mu guards the following.
	mu   sync.Mutex
	seen []string
}

func startAttacker(t *testing.T, c *chain, dir, sock string, uid uint32, hold, binding string) *attacker {
	t.Helper()
	a := &attacker{p: startSliver(t, c.A, dir, uid, sock, "attack", hold, binding), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for a.p.out.Scan() {
			a.mu.Lock()
			a.seen = append(a.seen, a.p.out.Text())
			a.mu.Unlock()
		}
	}()
	return a
}

// wait returns the first line starting with prefix, waiting 5s for it.
func (a *attacker) wait(t *testing.T, prefix string) string {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		a.mu.Lock()
		i := slices.IndexFunc(a.seen, func(l string) bool { return strings.HasPrefix(l, prefix) })
		line := ""
		if i >= 0 {
			line = a.seen[i]
		}
		a.mu.Unlock()
		if i >= 0 {
			return line
		}
	}
	t.Fatalf("attacker did not say %q in 5s", prefix)
	return ""
}

// wantBound waits until the attacker has both sockets.
func (a *attacker) wantBound(t *testing.T) {
	t.Helper()
	for _, l := range []string{"raw: ok", "sniff: ok", "ready"} {
		if got := a.wait(t, strings.Fields(l)[0]); got != l {
			t.Fatalf("attacker said %q, want %q", got, l)
		}
	}
}

// waitPacket waits for a packet carrying s.
func (a *attacker) waitPacket(t *testing.T, s string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if a.packets(s) > 0 {
			return
		}
	}
	t.Fatalf("attacker's sniffer did not get a packet carrying %q", s)
}

// packets counts the packets carrying s the attacker received so far.
func (a *attacker) packets(s string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, l := range a.seen {
		_, h, ok := strings.Cut(l, " pkt ")
		if b, err := hex.DecodeString(h); ok && err == nil && bytes.Contains(b, []byte(s)) {
			n++
		}
	}
	return n
}

// stop ends the attacker and waits for it.
func (a *attacker) stop(t *testing.T) {
	t.Helper()
	a.p.in.Close()
	<-a.done
	if err := a.p.cmd.Wait(); err != nil {
		t.Fatalf("attacker: %v", err)
	}
}

// wantNoPacket fails the test if the attacker got a packet carrying s.
func (a *attacker) wantNoPacket(t *testing.T, s string) {
	t.Helper()
	if n := a.packets(s); n > 0 {
		t.Errorf("attacker received %d packets carrying %q", n, s)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("waited 5s for %s", what)
}

// childServe is the victim's web server: it listens on args[0] (TCP),
// says "listening", and answers each connection's first line, until its
// standard input ends.
func childServe(args []string) error {
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			if line, err := bufio.NewReader(conn).ReadString('\n'); err == nil {
				io.WriteString(conn, "victim got: "+line)
			}
			conn.Close()
		}
	}()
	fmt.Println("listening")
	_, err = io.Copy(io.Discard, os.Stdin)
	return err
}

// childClient sends args[1] as one line to args[0] and says "sent".
func childClient(args []string) error {
	if err := sendTo(netip.MustParseAddrPort(args[0]), args[1]); err != nil {
		return err
	}
	fmt.Println("sent")
	return nil
}

// childAttack holds a port as args[0] says, then opens a raw socket and a
// sniffer on args[1] ("tcp/8790"; with ":sniff", the sniffer only),
// saying of each "raw: ok" or why not, then "ready". It prints every
// packet they get ("raw pkt <hex>") and how each ends ("raw end: <err>"),
// until its standard input ends. The holds:
//
//	tcp-listen:ADDR:PORT              a TCP listener
//	tcp-listen-close:ADDR:PORT        one, closed after "ready" ("released")
//	tcp-connect:LADDR:LPORT>RADDR:RPORT  a connection from a bound port
func childAttack(ctx context.Context, sock string, args []string) error {
	kind, spec, _ := strings.Cut(args[0], ":")
	var held io.Closer
	var err error
	switch kind {
	case "tcp-listen", "tcp-listen-close":
		held, err = net.Listen("tcp", spec)
	case "tcp-connect":
		from, to, _ := strings.Cut(spec, ">")
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.MustParseAddrPort(from))}
		held, err = d.DialContext(ctx, "tcp", to)
	default:
		err = fmt.Errorf("unknown hold %q", args[0])
	}
	if err != nil {
		return err
	}
	defer held.Close()
	spec, sniffOnly := strings.CutSuffix(args[1], ":sniff")
	b := parseBinding(spec)
	var wg sync.WaitGroup
	for _, k := range []string{"raw", "sniff"} {
		if k == "raw" && sniffOnly {
			continue
		}
		dial := wire.Dial
		if k == "sniff" {
			dial = wire.Sniff
		}
		c, err := dial(ctx, sock, b.Proto, b.Port)
		if err != nil {
			fmt.Printf("%s: refused=%v %v\n", k, errors.Is(err, wire.ErrRefused), strings.TrimPrefix(err.Error(), "bind raw socket: "))
			continue
		}
		defer c.Close()
		fmt.Printf("%s: ok\n", k)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				p, err := c.Receive(ctx)
				if err != nil {
					fmt.Printf("%s end: %v\n", k, err)
					return
				}
				fmt.Printf("%s pkt %x\n", k, p)
			}
		}()
	}
	fmt.Println("ready")
	if kind == "tcp-listen-close" {
		held.Close()
		fmt.Println("released")
	}
	io.Copy(io.Discard, os.Stdin)
	return nil
}
