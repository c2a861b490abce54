package rawfd

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

// requireNotify fails where the kernel cannot hand raw sockets over: the
// node falls back to the relay there, and these tests do not apply.
func requireNotify(t testing.TB) {
	t.Helper()
	testutil.RequireRoot(t)
	if !sandbox.RawNotifySupported() {
		t.Skip("kernel before 5.14: no SECCOMP_ADDFD_FLAG_SEND (probed)")
	}
}

// TestPingSocketInSliver: with the node's range in ping_group_range, an
// unprivileged user of a sliver pings with an ICMP datagram socket, and a
// range set before is widened, never narrowed.
func TestPingSocketInSliver(t *testing.T) {
	testutil.RequireRoot(t)
	p := nettest.NewPair(t)
	s := newSlice(t, nil, p.SendNS, 1)
	if out := s.probe(t, "dgramping", p.RecvIP.String(), "before"); !strings.Contains(out, "EACCES") && !strings.Contains(out, "permission denied") {
		t.Fatalf("ping socket before the range is set: %q, want permission denied", out)
	}
	err := nettest.InNS(p.SendNS, func() error {
		if err := writePingGroups(GroupRange{5, 10}); err != nil {
			return err
		}
		was, now, err := WidenPingGroups(GroupRange{s.UIDBase, s.UIDBase + s.UIDCount - 1})
		if err != nil {
			return err
		}
		if want := (GroupRange{5, s.UIDBase + s.UIDCount - 1}); was != (GroupRange{5, 10}) || now != want {
			return fmt.Errorf("widen: was %v now %v, want {5 10} and %v", was, now, want)
		}
		// A range that already holds ours is kept as it is.
		if err := writePingGroups(GroupRange{0, 4294967294}); err != nil {
			return err
		}
		if _, now, err = WidenPingGroups(GroupRange{s.UIDBase, s.UIDBase + 10}); err != nil || now != (GroupRange{0, 4294967294}) {
			return fmt.Errorf("widen a wider range: %v, %v", now, err)
		}
		return writePingGroups(GroupRange{s.UIDBase, s.UIDBase + s.UIDCount - 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if out := s.probe(t, "dgramping", p.RecvIP.String(), "pingmark"); out != "reply" {
		t.Fatalf("ping socket in the sliver: %q, want a reply", out)
	}
}

// TestRawSocketInSliver: an unprivileged user of a sliver opens a raw
// ICMP socket with socket(2) and pings; the socket is locked and marked,
// and the sliver cannot undo it.
func TestRawSocketInSliver(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	s := newSlice(t, srv, p.SendNS, 7)
	if out := s.probe(t, "rawping", p.RecvIP.String(), "rawmark"); out != "reply" {
		t.Fatalf("raw ping in the sliver: %q, want a reply", out)
	}
	// No process of the sliver but its init holds the listener, and the
	// sliver's root cannot reach the init's copy.
	var spy testutil.Buffer
	sp := s.start(t, &spy, "listen", "1", "1", "x")
	waitFor(t, &spy, "ready")
	if len(seccompFDs(t, os.Getpid())) == 0 {
		t.Fatal("the agent holds no seccomp listener while the sliver runs")
	}
	if fds := seccompFDs(t, sp.Pid); len(fds) > 0 {
		t.Errorf("a process of the sliver holds a seccomp listener: %v", fds)
	}
	var root testutil.Buffer
	if _, err := s.startAs(t, 0, &root, []string{"/bin/probe", "initfd"}).Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(root.String()); got != "open=true readlink=true getfd=true" {
		t.Errorf("the sliver's root reaching the init's descriptors: %q, want every way refused", got)
	}
	sp.Wait()
	out := s.probe(t, "tamper")
	want := fmt.Sprintf("mark=%#x detach=operation not permitted attach=operation not permitted unlock=operation not permitted setmark=operation not permitted", RawMark(7))
	if out != want {
		t.Fatalf("tampering with the raw socket:\n got %s\nwant %s", out, want)
	}
}

// TestRawSocketLimit: a slice holds at most MaxPerSlice raw sockets.
func TestRawSocketLimit(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	s := newSlice(t, srv, p.SendNS, 3)
	if out := s.probe(t, "many", "20"); out != "opened 8, then: too many open files" {
		t.Fatalf("20 raw sockets with a bound of 8: %q", out)
	}
}

// TestRawSocketAttacks sends hand-built packets from a sliver's raw
// socket: only the well-formed one from the slice's own port and the
// node's address leaves the node.
func TestRawSocketAttacks(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	var victim *testSlice
	srv := newServer(t, p, func(name string) ([]Port, error) {
		if victim != nil && name == victim.Name {
			return []Port{{17, 7000}}, nil
		}
		return []Port{{17, 6000}}, nil
	})
	s := newSlice(t, srv, p.SendNS, 11)
	victim = newSlice(t, srv, p.SendNS, 12)
	// The victim's sliver runs, so its port is in the table.
	victim.probe(t, "many", "0")
	node, peer := p.SendIP.String(), p.RecvIP.String()
	for _, tc := range []struct {
		kind, src string
		leaves    bool
	}{
		{"ownport", node, true},
		{"spoof", "10.201.0.77", false},
		{"otherport", node, false}, // the victim's port
		{"frag", node, false},
		{"fragoff", node, false},
		{"lsrr", node, false},
		{"ssrr", node, false},
		{"redirect", node, false},
		{"unreach", node, false},
		{"gre", node, false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			c := startCapture(t, p)
			mark := "attack-" + tc.kind
			out := s.probe(t, "send", tc.kind, tc.src, peer, mark)
			if got := c.seen(mark); (got > 0) != tc.leaves {
				t.Fatalf("%s packet (probe: %s): the peer saw %d, want leaves=%v", tc.kind, out, got, tc.leaves)
			}
		})
	}
}

// TestRawSocketSeesOnlyItsOwn: a slice's raw ICMP socket does not get
// another slice's echo replies, nor can it take the identifier another
// slice's raw socket uses.
func TestRawSocketSeesOnlyItsOwn(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 21)
	b := newSlice(t, srv, p.SendNS, 22)
	var spy testutil.Buffer
	sp := b.start(t, &spy, "listen", "1", "2", "ownmark")
	waitFor(t, &spy, "ready")
	if out := a.probe(t, "rawping", p.RecvIP.String(), "ownmark", "777"); out != "reply" {
		t.Fatalf("slice a's raw ping: %q", out)
	}
	if _, err := sp.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(spy.String()); got != "ready\ngot 0" {
		t.Fatalf("slice b's raw socket while a pinged: %q, want it to get nothing", got)
	}
	c := startCapture(t, p)
	if out := b.probe(t, "rawping", p.RecvIP.String(), "stolenid", "777"); out == "reply" {
		t.Fatalf("slice b pinged with slice a's identifier: %q", out)
	}
	if n := c.seen("stolenid"); n != 0 {
		t.Fatalf("slice b's echo with slice a's identifier reached the peer %d times", n)
	}
}

// TestRawUDPInSliver: a raw UDP socket sends from a port its slice holds
// and gets the answer; another slice's raw UDP socket gets nothing of it,
// and a port the slice does not hold sends nothing.
func TestRawUDPInSliver(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	var a *testSlice
	srv := newServer(t, p, func(name string) ([]Port, error) {
		if a != nil && name == a.Name {
			return []Port{{17, 6000}}, nil
		}
		return nil, nil
	})
	a = newSlice(t, srv, p.SendNS, 31)
	b := newSlice(t, srv, p.SendNS, 32)
	echo := nettest.Listen(t, p, 5353, true)
	var spy testutil.Buffer
	sp := b.start(t, &spy, "listen", "17", "2", "udpmark")
	waitFor(t, &spy, "ready")
	if out := a.probe(t, "rawudp", p.RecvIP.String(), "6000", "5353", "udpmark"); out != "reply" {
		t.Fatalf("raw UDP from the slice's port: %q, want the echo", out)
	}
	if _, err := sp.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(spy.String()); got != "ready\ngot 0" {
		t.Fatalf("the other slice's raw UDP socket: %q, want nothing", got)
	}
	before := echo.Packets()
	if out := a.probe(t, "rawudp", p.RecvIP.String(), "6001", "5353", "notheld"); out == "reply" {
		t.Fatalf("raw UDP from a port the slice does not hold got an answer")
	}
	if n := echo.Packets() - before; n != 0 {
		t.Fatalf("raw UDP from a port the slice does not hold: %d datagrams reached the peer", n)
	}
}

// TestRawSocket6InSliver: a raw ICMPv6 socket pings; hand-built IPv6
// packets with a forged source, another slice's port, a routing header
// or a fragment header do not leave the node.
func TestRawSocket6InSliver(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, func(string) ([]Port, error) { return []Port{{17, 6000}}, nil })
	s := newSlice(t, srv, p.SendNS, 61)
	if out := s.probe(t, "rawping6", p.RecvIP6.String(), "mark6"); out != "reply" {
		t.Fatalf("raw ICMPv6 ping in the sliver: %q, want a reply", out)
	}
	node, peer := p.SendIP6.String(), p.RecvIP6.String()
	for _, tc := range []struct {
		kind, src string
		leaves    bool
	}{
		{"ownport", node, true},
		{"spoof", "fd00:201::77", false},
		{"otherport", node, false},
		{"rthdr", node, false},
		{"frag", node, false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			c := startCapture(t, p)
			mark := "attack6-" + tc.kind
			out := s.probe(t, "send6", tc.kind, tc.src, peer, mark)
			if got := c.seen(mark); (got > 0) != tc.leaves {
				t.Fatalf("%s packet (probe: %s): the peer saw %d, want leaves=%v", tc.kind, out, got, tc.leaves)
			}
		})
	}
}

// TestRawSocketsAfterAgentRestart: while no agent answers, a running
// sliver's socket(SOCK_RAW) waits; a new agent takes the running init's
// listener up again (sandbox.RawListener) and answers it, and the calls
// after it.
func TestRawSocketsAfterAgentRestart(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv, err := New(Config{NetNS: p.SendNS, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s := newSlice(t, srv, p.SendNS, 81)
	if out := s.probe(t, "rawping", p.RecvIP.String(), "first"); out != "reply" {
		t.Fatalf("raw ping before the restart: %q", out)
	}
	var keep testutil.Buffer
	k := s.start(t, &keep, "listen", "1", "30", "x") // keeps the init running
	waitFor(t, &keep, "ready")
	t.Cleanup(func() { k.Signal(9); k.Wait() })
	if err := srv.Close(false); err != nil {
		t.Fatal(err)
	}
	var waiting testutil.Buffer
	w := s.start(t, &waiting, "rawping", p.RecvIP.String(), "between")
	t.Cleanup(func() { w.Signal(9); w.Wait() })
	time.Sleep(300 * time.Millisecond)
	if out := waiting.String(); out != "" {
		t.Fatalf("raw socket while no agent answers: %q, want the call to wait", out)
	}
	srv2 := newServer(t, p, nil)
	f, err := sandbox.RawListener(testutil.Context(t), s.cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv2.Serve(s.Slice, f)
	if _, err := w.Wait(); err != nil || strings.TrimSpace(waiting.String()) != "reply" {
		t.Fatalf("the waiting raw ping, once a new agent answers: %q, %v", waiting.String(), err)
	}
	if out := s.probe(t, "rawping", p.RecvIP.String(), "after"); out != "reply" {
		t.Fatalf("raw ping after the restart: %q", out)
	}
}

// TestNoRawSocketsWithoutServer: a sliver whose raw socket() calls go to
// no agent (a kernel before 5.14, or --raw-sockets-per-slice -1) is
// refused at once, as before: its filter has no listener.
func TestNoRawSocketsWithoutServer(t *testing.T) {
	testutil.RequireRoot(t)
	p := nettest.NewPair(t)
	s := newSlice(t, nil, p.SendNS, 91)
	if out := s.probe(t, "rawping", p.RecvIP.String(), "none"); !strings.Contains(out, "operation not permitted") {
		t.Fatalf("raw socket in a sliver without a server: %q, want EPERM", out)
	}
}

// TestListenerStaysOpen: the seccomp listener the sliver's start hands
// to the agent stays open, and stays the listener, after the start
// returns (it was once closed again then, so that the agent's file, and
// any file that took its number next, was closed under it).
func TestListenerStaysOpen(t *testing.T) {
	testutil.RequireRoot(t)
	p := nettest.NewPair(t)
	s := newSlice(t, nil, p.SendNS, 92)
	got := make(chan *os.File, 1)
	s.cfg.RawSockets = func(f *os.File) { got <- f }
	var out testutil.Buffer
	s.start(t, &out).Wait() // no mode: the probe exits at once
	var f *os.File
	select {
	case f = <-got:
	default:
		t.Fatal("the start handed over no listener")
	}
	t.Cleanup(func() { f.Close() })
	// Let any stray close land, then open files that would take the
	// number a stray close freed.
	for range 8 {
		o, err := os.Open("/dev/null")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", f.Fd()))
	if err != nil {
		t.Fatalf("the listener's descriptor: %v", err)
	}
	if !strings.Contains(link, "seccomp") {
		t.Fatalf("the listener's descriptor is now %q, not the seccomp listener", link)
	}
}

// TestSlowAnswerToGoProgram: a Go program in a sliver (the probe) is
// signalled every 10 ms by its runtime while it waits in socket(2); on a
// node slow to answer (here every answer takes 60 ms, as reading a busy
// node's socket tables can) it still gets its raw socket, whether its
// wait becomes killable once the call is received (Linux 5.19) or stays
// interruptible, as on older kernels, where each signal restarts the
// call.
func TestSlowAnswerToGoProgram(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, func(string) ([]Port, error) {
		time.Sleep(60 * time.Millisecond)
		return nil, nil
	})
	for i, interruptible := range []bool{false, true} {
		s := newSlice(t, srv, p.SendNS, uint32(20+i))
		s.cfg.RawWaitInterruptible = interruptible
		var out testutil.Buffer
		// Each its own echo identifier: a flow is its first sender's.
		proc := s.start(t, &out, "rawping", p.RecvIP.String(), "slowmark", fmt.Sprint(0x4300+i))
		done := make(chan struct{})
		go func() { proc.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			proc.SignalGroup(9)
			<-done
			t.Fatalf("interruptible=%v: the probe still waits for its raw socket after 15 s: %q", interruptible, out.String())
		}
		if got := strings.TrimSpace(out.String()); got != "reply" {
			t.Errorf("interruptible=%v: raw ping on a slow node: %q, want a reply", interruptible, got)
		}
	}
}
