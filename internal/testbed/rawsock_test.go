package testbed_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestRawSocketAttacks: one slice (the attacker) attacks another's (the
// victim's) TCP and UDP ports through the node's safe raw socket service,
// from real slivers on one node of two; clients on the other node stand
// for the victim's users. The attacker gets no raw or sniffer socket on a
// port it holds only on loopback or through an outgoing connection; its
// sniffer on its own port sees none of the victim's or the node agent's
// packets; and once it lets its socket go, the victim cannot bind the
// port (nor get it as an ephemeral one) until the attacker's raw and
// sniffer sockets have ended, so none of the victim's packets is dropped
// or captured.
func TestRawSocketAttacks(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	key := newUser(t, p, "raw@orbis.test")
	attackerSlice, victimSlice := testbed.Site+"_rawatt", testbed.Site+"_rawvic"
	n, far := st.Nodes[0], st.Nodes[1]
	for _, s := range []string{attackerSlice, victimSlice} {
		newSlice(p, s, "raw@orbis.test")
		p.call("AddSliceToNodes", s, []any{n.Hostname})
	}
	waitRunning(t, p, attackerSlice, 1)
	waitRunning(t, p, victimSlice, 1)
	bin := buildStatic(t, "./testdata/rawprobe", "rawprobe")
	for _, s := range []string{attackerSlice, victimSlice} {
		copyToSliver(t, key, s, n, bin, "/root/rawprobe")
	}
	victim := startProbe(t, key, victimSlice, n)

	t.Run("NotHeldAlone", func(t *testing.T) {
		port := "8801"
		victim.want(t, "bindloop "+n.Addr+":"+port, "bindloop:  ok ")
		for _, hold := range [][]string{
			{"listen tcp 127.0.0.1:" + port},
			{"listen tcp 127.0.0.1:18801", "connect 127.0.0.1:" + port + " 127.0.0.1:18801"},
		} {
			at := startProbe(t, key, attackerSlice, n)
			for _, h := range hold {
				at.want(t, h, " ok")
			}
			for _, kind := range []string{"raw", "sniff"} {
				at.want(t, kind+" tcp "+port, kind+": refused bind raw socket: raw socket service: tcp port "+port+" is in use by another slice")
			}
			cookie := "orbis-cookie-" + strings.Fields(hold[len(hold)-1])[0]
			visit(t, far, netip.AddrPort{}, n.Addr+":"+port, cookie, true)
			at.stop(t)
			at.wantNoPacket(t, cookie)
		}
	})

	t.Run("SniffOwnSideOnly", func(t *testing.T) {
		at := startProbe(t, key, attackerSlice, n)
		at.want(t, "listen tcp 0.0.0.0:8802", "listen: ok 8802")
		at.want(t, "sniff tcp 8802", "sniff: ok")
		// Flows whose remote side is port 8802 of the far node: to the
		// victim's server and to the node agent's SSH gateway.
		from := netip.AddrPortFrom(netip.MustParseAddr(far.Addr), 8802)
		visit(t, far, from, n.Addr+":8801", "orbis-victim-remote", true)
		visit(t, far, from, n.SSHAddr, "orbis-agent-remote", false)
		// The attacker's own flow, which it does see.
		visit(t, far, netip.AddrPort{}, n.Addr+":8802", "orbis-own-side", false)
		at.waitPacket(t, "orbis-own-side")
		time.Sleep(300 * time.Millisecond)
		at.stop(t)
		for _, s := range []string{"orbis-victim-remote", "victim got", "orbis-agent-remote", "SSH-"} {
			at.wantNoPacket(t, s)
		}
	})

	t.Run("ClosedSocketWindow", func(t *testing.T) {
		for port := 8803; !closedSocketWindow(t, key, attackerSlice, victimSlice, n, far, port); port++ {
			if port == 8805 {
				t.Fatal("the attacker's sockets ended too soon after it closed its own, three times over: nothing was tested")
			}
		}
	})

	t.Run("EphemeralPort", func(t *testing.T) {
		// Four ephemeral ports: the attacker takes one, and each of the
		// victim's sends would get it one time in four if the kernel
		// could hand it out.
		setPortRange(t, n, "40000 40003")
		reserved := readSysctl(t, n, "ip_local_reserved_ports") // the node's own service ports
		for i := 0; !ephemeralPort(t, key, attackerSlice, victim, n, far); i++ {
			if i == 2 {
				t.Fatal("the attacker's raw socket ended before the victim sent, three times over: nothing was tested")
			}
		}
		waitFor(t, "the claimed port out of ip_local_reserved_ports", 5*time.Second, func() bool {
			return readSysctl(t, n, "ip_local_reserved_ports") == reserved
		})
	})
	victim.stop(t)
}

// closedSocketWindow is the attack on the recheck's window: the attacker
// holds the port, raw-binds and sniffs it, then closes its socket while
// the victim tries to bind the port every 2 ms. The victim must be
// refused until the attacker's sockets have ended, then serve with none
// of its packets seen by the attacker. It reports false when the
// service's recheck ended the attacker's sockets within 50 ms of the
// close, too soon to tell.
func closedSocketWindow(t *testing.T, key, attackerSlice, victimSlice string, n, far testbed.Node, port int) bool {
	at := startProbe(t, key, attackerSlice, n)
	defer at.stop(t)
	p := strconv.Itoa(port)
	at.want(t, "listen tcp 0.0.0.0:"+p, "listen: ok "+p)
	at.want(t, "raw tcp "+p, "raw: ok")
	at.want(t, "sniff tcp "+p, "sniff: ok")
	v := startProbe(t, key, victimSlice, n)
	defer v.stop(t)
	v.send(t, "bindloop "+n.Addr+":"+p)
	time.Sleep(200 * time.Millisecond)
	closed := unixNanoOf(t, strings.Fields(at.want(t, "close", "close: ok"))[2])
	bound := v.wait(t, "bindloop:", 15*time.Second)
	var ends []time.Time
	for _, kind := range []string{"raw", "sniff"} {
		end := at.wait(t, kind+" end ", 5*time.Second)
		if !strings.Contains(end, "no longer holds tcp/"+p) {
			t.Errorf("attacker's %s socket ended with %q, want a hang-up", kind, end)
		}
		ends = append(ends, unixNanoOf(t, strings.Fields(end)[2]))
	}
	if ends[0].Sub(closed) < 50*time.Millisecond {
		t.Logf("the recheck came %v after the close; again", ends[0].Sub(closed))
		return false
	}
	// The attacker's own socket alone would refuse with EADDRINUSE; its
	// raw and sniffer sockets' claim refuses with EPERM, before and after
	// the close.
	runs := strings.Fields(strings.TrimPrefix(bound, "bindloop:"))
	if len(runs) != 3 || !strings.HasPrefix(runs[0], "EPERM*") || runs[1] != "ok" {
		t.Fatalf("victim binding the port the attacker let go: %q, want EPERM while the attacker's raw and sniffer sockets lived, then ok", bound)
	}
	for _, end := range ends {
		if unixNanoOf(t, runs[2]).Before(end.Add(-20 * time.Millisecond)) {
			t.Errorf("victim bound at %v, %v after the attacker closed its socket and before its raw or sniffer socket ended (at %v)",
				unixNanoOf(t, runs[2]), unixNanoOf(t, runs[2]).Sub(closed), end)
		}
	}
	visit(t, far, netip.AddrPort{}, n.Addr+":"+p, "orbis-window-cookie", true)
	at.want(t, "raw tcp "+p, "raw: refused")
	at.wantNoPacket(t, "orbis-window-cookie")
	return true
}

// ephemeralPort is the attack through the kernel's choice of ephemeral
// ports: the attacker binds a UDP socket to port 0, raw-binds the port
// it got and closes the socket; the victim's unbound sockets then send,
// and none may get that port while the attacker's raw socket lives. It
// reports false when the raw socket ended before the victim sent.
func ephemeralPort(t *testing.T, key, attackerSlice string, victim *probe, n, far testbed.Node) bool {
	at := startProbe(t, key, attackerSlice, n)
	defer at.stop(t)
	held := strings.Fields(at.want(t, "listen udp 0.0.0.0:0", "listen: ok "))[2]
	at.want(t, "raw udp "+held, "raw: ok")
	asked := time.Now()
	at.send(t, "close")
	got := victim.want(t, "autobind "+far.Addr+":9 20", "autobind: ")
	end := at.wait(t, "raw end ", 5*time.Second)
	if unixNanoOf(t, strings.Fields(end)[2]).Before(asked) {
		t.Logf("the attacker's raw socket ended (%q) before the victim sent; again", end)
		return false
	}
	ports := strings.Fields(strings.TrimPrefix(got, "autobind: "))
	if len(ports) != 20 || strings.Contains(" "+strings.Join(ports, " ")+" ", " "+held+" ") {
		t.Errorf("victim's unbound sockets got ports %v; the attacker's raw socket holds %s", ports, held)
	}
	return true
}

// probe is a rawprobe running in a sliver, driven over SSH.
type probe struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan struct{}

	// mu guards the following.
	mu   sync.Mutex
	seen []string // what the probe said; "" for an answer taken
}

func startProbe(t *testing.T, key, slice string, n testbed.Node) *probe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &probe{cmd: sshCmd(ctx, key, slice, n, "/root/rawprobe"), done: make(chan struct{})}
	p.in, _ = p.cmd.StdinPipe()
	out, _ := p.cmd.StdoutPipe()
	p.cmd.Stderr = testWriter{t}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.seen = append(p.seen, sc.Text())
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		p.in.Close()
		cancel()
		p.cmd.Wait()
	})
	return p
}

func (p *probe) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		t.Fatalf("probe %q: %v", line, err)
	}
}

// want sends a command and returns its answer, which must start with
// prefix or contain it.
func (p *probe) want(t *testing.T, line, prefix string) string {
	t.Helper()
	p.send(t, line)
	cmd := strings.Fields(line)[0] + ":"
	got := p.wait(t, cmd, 10*time.Second)
	if !strings.HasPrefix(got, prefix) && !strings.Contains(got, prefix) {
		t.Fatalf("probe %q answered %q, want %q", line, got, prefix)
	}
	return got
}

// wait returns the first line not taken yet starting with prefix.
func (p *probe) wait(t *testing.T, prefix string, d time.Duration) string {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		p.mu.Lock()
		for i := range p.seen {
			if strings.HasPrefix(p.seen[i], prefix) {
				line := p.seen[i]
				p.seen[i] = "" // taken
				p.mu.Unlock()
				return line
			}
		}
		p.mu.Unlock()
	}
	t.Fatalf("probe did not say %q in %v; it said:\n%s", prefix, d, p.said())
	return ""
}

func (p *probe) said() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.seen, "\n")
}

func (p *probe) waitPacket(t *testing.T, s string) {
	t.Helper()
	waitFor(t, "a packet carrying "+s, 5*time.Second, func() bool { return p.packets(s) > 0 })
}

// packets counts the packets carrying s the probe's sockets received.
func (p *probe) packets(s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.seen {
		_, h, ok := strings.Cut(l, " pkt ")
		if b, err := hex.DecodeString(h); ok && err == nil && bytes.Contains(b, []byte(s)) {
			n++
		}
	}
	return n
}

func (p *probe) wantNoPacket(t *testing.T, s string) {
	t.Helper()
	if n := p.packets(s); n > 0 {
		t.Errorf("the attacker's sockets received %d packets carrying %q", n, s)
	}
}

// stop ends the probe and waits for it.
func (p *probe) stop(t *testing.T) {
	t.Helper()
	p.in.Close()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("probe did not end; it said:\n%s", p.said())
	}
}

// visit connects from node at to addr (from local address from, if
// valid) and sends cookie as a line; with reply, it must be answered by
// the victim's server.
func visit(t *testing.T, at testbed.Node, from netip.AddrPort, addr, cookie string, reply bool) {
	t.Helper()
	var c net.Conn
	err := nettest.InNS(at.Netns, func() (err error) {
		d := net.Dialer{Timeout: 3 * time.Second}
		if from.IsValid() {
			d.LocalAddr = net.TCPAddrFromAddrPort(from)
			d.Control = func(_, _ string, rc syscall.RawConn) error { // the port again, past TIME_WAIT
				return rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
			}
		}
		c, err = d.Dial("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatalf("connect from %s to %s: %v", at.Hostname, addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, cookie+"\n"); err != nil {
		t.Fatalf("send to %s: %v", addr, err)
	}
	if !reply {
		time.Sleep(100 * time.Millisecond)
		return
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if want := "victim got: " + cookie + "\n"; err != nil || line != want {
		t.Fatalf("the victim's server at %s answered %q, %v; want %q", addr, line, err, want)
	}
}

func unixNano(s string) (time.Time, bool) {
	ns, err := strconv.ParseInt(s, 10, 64)
	return time.Unix(0, ns), err == nil
}

func unixNanoOf(t *testing.T, s string) time.Time {
	at, ok := unixNano(s)
	if !ok {
		t.Fatalf("not a time: %q", s)
	}
	return at
}

// setPortRange sets node n's ip_local_port_range until the test ends.
func setPortRange(t *testing.T, n testbed.Node, r string) {
	t.Helper()
	old := readSysctl(t, n, "ip_local_port_range")
	writeSysctl(t, n, "ip_local_port_range", r)
	t.Cleanup(func() { writeSysctl(t, n, "ip_local_port_range", old) })
}

func readSysctl(t *testing.T, n testbed.Node, name string) string {
	t.Helper()
	var b []byte
	err := nettest.InNS(n.Netns, func() (err error) {
		b, err = os.ReadFile("/proc/sys/net/ipv4/" + name)
		return err
	})
	if err != nil {
		t.Fatalf("read %s of %s: %v", name, n.Hostname, err)
	}
	return strings.TrimSpace(string(b))
}

func writeSysctl(t *testing.T, n testbed.Node, name, v string) {
	t.Helper()
	err := nettest.InNS(n.Netns, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/"+name, []byte(v+"\n"), 0o644)
	})
	if err != nil {
		t.Fatalf("write %s of %s: %v", name, n.Hostname, err)
	}
}

// testWriter writes a child's standard error to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimSpace(b))
	return len(b), nil
}
