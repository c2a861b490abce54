package rawsock

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/portmgr"
)

// TestRecheckReleasesAtOnce: a slice's 32 bound sockets lose their ports
// at once (no socket holds them any more), and the sliver reads none of
// its connections, whose buffers are full: the recheck releases every
// binding within the recheck's window (DefaultRecheckEvery), not one
// after another behind each hang-up's write, and every connection still
// ends.
func TestRecheckReleasesAtOnce(t *testing.T) {
	const n = 32
	node := netip.MustParseAddr("192.0.2.1")
	empty := t.TempDir() // no socket tables: nobody holds any port
	s := &server{
		cfg: Config{
			Holders: func() (*portmgr.Holders, error) {
				return portmgr.ReadHolders(empty, func(uint32) (string, bool) { return "", false }, nil)
			},
			NodeAddrs: func() []netip.Addr { return []netip.Addr{node} },
			Limits:    Limits{MaxBindingsPerSlice: n},
		},
		nsfd: -1, bound: map[Binding]string{}, sessions: map[*session]held{},
	}
	released := make(chan time.Time, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	var peers []*os.File
	for i := range n {
		ours, peer := stuckPair(t)
		peers = append(peers, peer)
		ss := &session{s: s, c: ours, slice: "alice", log: s.cfg.log(), raw: map[int]int{},
			b: Binding{Proto: wire.ProtoTCP, Port: uint16(9000 + i)}, addrs: []netip.Addr{node},
			bound: true, sniff: true, unclaim: func() { released <- time.Now() }}
		if err := s.admit(ss); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); ss.serve(t.Context()) }()
	}

	start := time.Now()
	if err := s.recheck(); err != nil {
		t.Fatalf("recheck: %v", err)
	}
	window := DefaultRecheckEvery
	for i := range n {
		select {
		case at := <-released:
			if d := at.Sub(start); d > window/2 {
				t.Errorf("binding %d released %v after the recheck (want well within its %v window)", i, d, window)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d bindings not released 5 s after the recheck", n-i, n)
		}
	}
	// Every connection ends: the sliver's side reads to end of file.
	for i, p := range peers {
		p.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 1<<16)
		for {
			_, err := p.Read(buf)
			if err != nil {
				if os.IsTimeout(err) {
					t.Errorf("connection %d still open", i)
				}
				break
			}
		}
	}
}

// stuckPair is a connected pair of Unix stream sockets, the service's
// side (ours) and the sliver's (peer), whose buffers are full: the
// sliver has read nothing, and a write on ours blocks.
func stuckPair(t *testing.T) (net.Conn, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "ours")
	ours, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fds[1], true); err != nil { // pollable, for read deadlines
		t.Fatal(err)
	}
	peer := os.NewFile(uintptr(fds[1]), "peer")
	t.Cleanup(func() { ours.Close(); peer.Close() })
	ours.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	chunk := make([]byte, 1<<16)
	for {
		if _, err := ours.Write(chunk); err != nil {
			break
		}
	}
	ours.SetWriteDeadline(time.Time{})
	return ours, peer
}
