package rawfd

import (
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// fakeClaims is a Config.Claim that grants claims while allow is set and
// remembers each live claim's revoke.
type fakeClaims struct {
	mu sync.Mutex
	// mu guards the following.
	allow    bool
	live     map[Port]func() // revoke of each live claim
	released int
}

func (f *fakeClaims) claim(_ string, p Port, revoke func()) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.allow {
		return nil, unix.EADDRINUSE
	}
	f.live[p] = revoke
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.live, p)
		f.released++
	}, nil
}

func (f *fakeClaims) set(allow bool) {
	f.mu.Lock()
	f.allow = allow
	f.mu.Unlock()
}

// TestClaimedPorts: with Config.Claim, a port the slice holds enters the
// table only once claimed (its raw sockets may then send from it and get
// new flows to it), leaves it at once when the claim is revoked, and its
// claim is released once the slice no longer holds it.
func TestClaimedPorts(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	var mu sync.Mutex
	held := []Port{{17, 6000}}
	claims := &fakeClaims{live: map[Port]func(){}}
	srv, err := New(Config{
		Ports: func(string) ([]Port, error) {
			mu.Lock()
			defer mu.Unlock()
			return held, nil
		},
		Claim: claims.claim, NetNS: p.SendNS, SyncEvery: time.Hour, Log: testutil.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	s := newSlice(t, srv, p.SendNS, 60)
	// A process that outlives the test's steps keeps the sliver's init,
	// so the slice stays served (and its claims held) between them.
	var keep testutil.Buffer
	s.start(t, &keep, "listen", "1", "60", "keep")
	waitFor(t, &keep, "ready")
	node, peer := p.SendIP.String(), p.RecvIP.String()
	// Each step syncs the slice's ports as the periodic sync does (a
	// raw socket() syncs only when the slice's own sockets changed).
	sends := func(mark string) bool {
		srv.syncSlice(s.Name)
		c := startCapture(t, p)
		defer c.close()
		out := s.probe(t, "send", "ownport", node, peer, mark)
		t.Logf("send %s: %s", mark, out)
		return c.seen(mark) > 0
	}
	if sends("unclaimed") {
		t.Fatal("a raw packet left from a port whose claim was refused")
	}
	claims.set(true)
	if !sends("claimed") {
		t.Fatal("no raw packet left from the claimed port")
	}
	// New flows to the claimed port reach the slice's raw sockets.
	var out testutil.Buffer
	l := s.start(t, &out, "listen", "17", "2", "newflow")
	waitFor(t, &out, "ready")
	if err := nettest.InNS(p.RecvNS, func() error {
		for range 5 {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			unix.Sendto(fd, []byte("newflow"), 0, &unix.SockaddrInet4{Addr: p.SendIP.As4(), Port: 6000})
			unix.Close(fd)
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got == "ready\ngot 0" {
		t.Fatalf("the raw socket got no datagram of a new flow to the claimed port: %q", got)
	}
	// A reservation for another slice takes the claim back: the port
	// leaves the table before the next sync.
	claims.set(false)
	claims.mu.Lock()
	revoke := claims.live[Port{17, 6000}]
	claims.mu.Unlock()
	if revoke == nil {
		t.Fatal("no live claim on the port")
	}
	revoke()
	list, err := exec.Command("nsenter", "--net="+p.SendNS, "nft", "list", "map", "inet", DefaultTable, "ports").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list map: %v\n%s", err, list)
	}
	if strings.Contains(string(list), "6000") {
		t.Fatalf("the revoked port is still in the table:\n%s", list)
	}
	if sends("revoked") {
		t.Fatal("a raw packet left from a port whose claim was revoked")
	}
	// A port the slice gives up leaves the table and its claim is
	// released.
	claims.set(true)
	if !sends("again") {
		t.Fatal("no raw packet left from the port claimed again")
	}
	mu.Lock()
	held = nil
	mu.Unlock()
	if sends("given-up") {
		t.Fatal("a raw packet left from a port the slice gave up")
	}
	claims.mu.Lock()
	defer claims.mu.Unlock()
	if len(claims.live) != 0 || claims.released == 0 {
		t.Fatalf("claims after the slice gave the port up: live %v, released %d", claims.live, claims.released)
	}
}

// TestSyncOnBind: a raw socket() syncs the slice's ports when the slice
// bound a port since its last sync, so a tool that binds its port and
// then opens its raw socket sends from it at once, long before the
// periodic sync; a raw socket() after which nothing changed reads no
// socket table (Config.Ports).
func TestSyncOnBind(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	var s *testSlice
	var reads atomic.Int32
	srv, err := New(Config{
		Ports: func(string) ([]Port, error) {
			reads.Add(1)
			var bound []Port
			err := nettest.InNS(p.SendNS, func() (err error) {
				bound, err = BoundPorts(s.UIDBase, s.UIDCount)
				return err
			})
			return bound, err
		},
		Claim: grantClaims, NetNS: p.SendNS, SyncEvery: time.Hour, Log: testutil.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(true); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	s = newSlice(t, srv, p.SendNS, 61)
	var keep testutil.Buffer
	s.start(t, &keep, "listen", "1", "60", "keep")
	waitFor(t, &keep, "ready")
	c := startCapture(t, p)
	if out := s.probe(t, "bindsend", "6543", p.RecvIP.String(), "9"); out != "sent" {
		t.Fatalf("bindsend: %q", out)
	}
	if c.seen("held") == 0 {
		t.Fatal("no raw packet left from the port the slice bound just before")
	}
	before := reads.Load()
	if out := s.probe(t, "opens", "5"); strings.HasPrefix(out, "error") {
		t.Fatalf("opens: %q", out)
	}
	if got := reads.Load(); got != before {
		t.Fatalf("raw socket() calls after which nothing changed read the socket tables %d times", got-before)
	}
}
