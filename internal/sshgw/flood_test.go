//go:build linux

package sshgw

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// The attacks on the gateway's capacity run against real slivers, with
// the default limits; the victim logs in with OpenSSH from another
// loopback address (127.0.0.2) while the flood holds what it can.

// dialFrom opens a TCP connection to addr from the loopback address src.
func dialFrom(t testing.TB, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// bannerOnly connects from src and sends only a version line, as the
// flooder does, and reports on closed when the gateway closes the
// connection (or after wait).
func bannerOnly(t testing.TB, src, addr string, wait time.Duration, closed chan<- bool) {
	c := dialFrom(t, src, addr)
	fmt.Fprintf(c, "SSH-2.0-flood\r\n")
	go func() {
		c.SetReadDeadline(time.Now().Add(wait))
		// The gateway's version and kexinit, then EOF or a reset (the
		// gateway did not read all we sent) if it closes.
		_, err := io.Copy(io.Discard, c)
		closed <- !errors.Is(err, os.ErrDeadlineExceeded)
	}()
}

// victimLogin logs into pl_victim with OpenSSH from 127.0.0.2 and returns
// how long it took; it fails the test if the login fails.
func victimLogin(t *testing.T, o *openSSH) time.Duration {
	t.Helper()
	start := time.Now()
	out, errOut, code := result(t, o.sshT([]string{"-b", "127.0.0.2"}, "pl_victim", "echo in"))
	d := time.Since(start)
	if code != 0 || out != "in\n" {
		t.Fatalf("victim's login during the flood: status %d, out %q, stderr %q", code, out, errOut)
	}
	if d > 5*time.Second {
		t.Errorf("victim's login took %v during the flood", d)
	}
	return d
}

// TestBannerFlood floods the gateway with connections that send a version
// line and nothing more: 40 from one address, then 8 from each of seven
// more, which together fill the unauthenticated pool. The first address
// gets no more than its share, the victim from another address still
// logs in promptly, and the held connections are closed at the login
// deadline.
func TestBannerFlood(t *testing.T) {
	n := newRealNode(t)
	victim, vpriv := newKeyPair(t)
	n.create("pl_victim", victim)
	o := newOpenSSH(t, n.gw.addr, victim, vpriv)
	lim := n.gw.srv.cfg.Limits
	wait := lim.HandshakeTimeout + 5*time.Second

	closed := make(chan bool, 200)
	for range 40 {
		bannerOnly(t, "127.0.0.1", n.gw.addr, wait, closed)
	}
	quick := 0
	for range 40 - lim.MaxHandshakesPerSource {
		if <-closed {
			quick++
		}
	}
	if quick != 40-lim.MaxHandshakesPerSource {
		t.Errorf("one address's flood: %d of 40 refused at once, want %d", quick, 40-lim.MaxHandshakesPerSource)
	}
	sources := 0
	for held := lim.MaxHandshakesPerSource; held+lim.MaxHandshakesPerSource <= lim.MaxHandshakes; held += lim.MaxHandshakesPerSource {
		sources++
		for range lim.MaxHandshakesPerSource {
			bannerOnly(t, fmt.Sprintf("127.0.0.%d", 2+sources), n.gw.addr, wait, closed)
		}
	}
	time.Sleep(200 * time.Millisecond) // all held
	t.Logf("victim logged in in %v, the flood holding %d connections from %d addresses",
		victimLogin(t, o), lim.MaxHandshakes, sources+1)

	// The rest are closed at the login deadline, not held forever.
	start := time.Now()
	for range lim.MaxHandshakes {
		if ok := <-closed; !ok {
			t.Fatalf("a flood connection still open %v after the deadline", wait)
		}
	}
	t.Logf("the held connections were closed %v after the victim's login", time.Since(start).Round(time.Second))
}

// TestIdleSliceFlood holds 300 authenticated idle connections (as `ssh -N`
// does) of one slice, and then as many sessions as it may: the slice gets
// its share only, and another slice's user logs in and opens a session
// promptly.
func TestIdleSliceFlood(t *testing.T) {
	n := newRealNode(t)
	flood, fpriv := newKeyPair(t)
	victim, vpriv := newKeyPair(t)
	n.create("pl_flood", flood)
	n.create("pl_victim", victim)
	lim := n.gw.srv.cfg.Limits

	// A few real `ssh -N`, the rest through the Go client, one at a time
	// (a source may have only a few logins under way at once).
	of := newOpenSSH(t, n.gw.addr, flood, fpriv)
	for range 4 {
		cmd := of.sshT([]string{"-N"}, "pl_flood")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	waitUntil(t, "4 ssh -N logged in", func() bool { return n.gw.srv.adm.held("pl_flood") == 4 })
	var held []*ssh.Client
	var refused []string
	for range 296 {
		var banner string
		c, err := ssh.Dial("tcp", n.gw.addr, &ssh.ClientConfig{User: "pl_flood", Auth: []ssh.AuthMethod{ssh.PublicKeys(flood)},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), BannerCallback: func(m string) error { banner = m; return nil },
			Timeout: 10 * time.Second})
		if err == nil {
			held = append(held, c)
			t.Cleanup(func() { c.Close() })
		} else {
			refused = append(refused, banner)
		}
	}
	if len(held)+4 != lim.MaxConnsPerSlice {
		t.Errorf("one slice holds %d connections, want its %d", len(held)+4, lim.MaxConnsPerSlice)
	}
	want := fmt.Sprintf("orbis: slice pl_flood has %d connections to this node already", lim.MaxConnsPerSlice)
	for _, r := range refused {
		if !strings.HasPrefix(r, want) {
			t.Errorf("a refused login was told %q, want %q", r, want)
			break
		}
	}
	if _, errOut, code := result(t, of.ssh("pl_flood", "true")); code != 255 || !strings.Contains(errOut, want) {
		t.Errorf("OpenSSH login over the slice's share: status %d, stderr %q, want %q", code, errOut, want)
	}

	// Sessions: as many as the flooder can open over its connections.
	sessions := 0
	for _, c := range held {
		for {
			s, err := c.NewSession()
			if err != nil {
				break
			}
			defer s.Close()
			sessions++
		}
	}
	if sessions > lim.MaxSessionsPerSlice {
		t.Errorf("one slice opened %d sessions, more than its %d", sessions, lim.MaxSessionsPerSlice)
	}

	o := newOpenSSH(t, n.gw.addr, victim, vpriv)
	t.Logf("victim logged in in %v, the flooder holding %d connections and %d sessions (%d refused)",
		victimLogin(t, o), len(held)+4, sessions, len(refused))
}
