package rawfd

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// The fifth round of attacks of a hostile slice's root, on packet sockets,
// the spare socket and the table: each test performs one on real slivers
// and fails while it works.

var (
	attacker5Once sync.Once
	attacker5Err  error
)

// attack5 runs /bin/attacker5 args (testdata/attacker5, built static) in
// the sliver as its user 1000; the returned func waits for it and returns
// its output.
func (s *testSlice) attack5(t testing.TB, out *testutil.Buffer, args ...string) func() string {
	t.Helper()
	dir := testImage(t)
	attacker5Once.Do(func() {
		attacker5Err = buildTestProgram(filepath.Join(dir, "bin", "attacker5"), "attacker5", "ORBIS_TEST_RAWFD_ATTACKER5")
	})
	if attacker5Err != nil {
		t.Fatal(attacker5Err)
	}
	p := s.startCmd(t, out, append([]string{"/bin/attacker5"}, args...))
	return func() string {
		t.Helper()
		if _, err := p.Wait(); err != nil {
			t.Fatalf("attacker5 %q: %v", args, err)
		}
		return strings.TrimSpace(out.String())
	}
}

// nodePing sends n echo requests with identifier id and payload from the
// node (root's raw socket in ns) to dst, and returns how many replies
// came back.
func nodePing(t *testing.T, ns string, dst [4]byte, id uint16, payload string, n int) int {
	t.Helper()
	replies := 0
	if err := nettest.InNS(ns, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		buf := make([]byte, 1500)
		for seq := 1; seq <= n; seq++ {
			b := append([]byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, byte(seq)}, payload...)
			binary.BigEndian.PutUint16(b[2:], wire.Checksum(b))
			if err := unix.Sendto(fd, b, 0, &unix.SockaddrInet4{Addr: dst}); err != nil {
				return err
			}
			for {
				m, _, err := unix.Recvfrom(fd, buf, 0)
				if err != nil {
					break
				}
				ihl := int(buf[0]&0xf) * 4
				if m >= ihl+8 && buf[ihl] == 0 && binary.BigEndian.Uint16(buf[ihl+4:]) == id {
					replies++
					break
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return replies
}

// TestAttackStaleEchoFlow: a slice teaches the packet sockets' filter an
// echo flow (peer, identifier) with one echo request of its raw socket,
// then keeps only a packet socket of one protocol, which sees no frame go
// out: when the node (or another slice) later pings that peer with that
// identifier, no filter sees its request take the flow back, and the
// slice's packet socket must still not get the replies.
func TestAttackStaleEchoFlow(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := packetServer(t, p, nil)
	a := newSlice(t, srv, p.SendNS, 91)
	const id = 0x5e5e
	var spy testutil.Buffer
	done := a.attack5(t, &spy, "echosteal", p.RecvIP.String(), fmt.Sprint(id), "4", "node-echo-secret")
	waitFor(t, &spy, "ready")
	if !strings.Contains(spy.String(), "learned") {
		t.Fatalf("the slice's own echo got no reply: %s", spy.String())
	}
	// The node pings the same peer with the same identifier later on.
	if got := nodePing(t, p.SendNS, p.RecvIP.As4(), id, "node-echo-secret", 10); got == 0 {
		t.Fatal("the node's pings got no reply: the test proves nothing")
	}
	if got := lastLine(done()); got != "got 0" {
		t.Fatalf("slice a's packet socket got the node's echo replies: %q, want got 0", got)
	}
}
