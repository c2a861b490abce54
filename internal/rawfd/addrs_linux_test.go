package rawfd

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
)

// TestAttackRemovedAddress: the sources a slice's raw sockets may send
// from follow the node's addresses: a source the node does not have is
// refused, one it gains may be used, and one it drops is refused again
// as soon as the address is gone, so that a slice cannot keep sending as
// an address the node gave up (and someone else may now own).
func TestAttackRemovedAddress(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, func(string) ([]Port, error) { return []Port{{17, 6000}}, nil })
	s := newSlice(t, srv, p.SendNS, 13)
	const extra = "10.201.0.88"
	peer := p.RecvIP.String()
	leaves := func(mark string) bool {
		c := startCapture(t, p)
		defer c.close()
		out := s.probe(t, "send", "ownport", extra, peer, mark)
		t.Logf("send %s: %s", mark, out)
		return c.seen(mark) > 0
	}
	// inSet waits until the table's local4 holds extra (or not).
	inSet := func(want bool) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			out, err := exec.Command("nsenter", "--net="+p.SendNS, "nft", "list", "set", "inet", DefaultTable, "local4").CombinedOutput()
			if err != nil {
				t.Fatalf("nft list set: %v\n%s", err, out)
			}
			if strings.Contains(string(out), extra) == want {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("local4 holds %s: %v, want %v:\n%s", extra, !want, want, out)
			}
		}
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("nsenter", append([]string{"--net=" + p.SendNS, "ip"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	if leaves("before") {
		t.Fatal("a raw packet left with a source the node does not have")
	}
	ip("addr", "add", extra+"/32", "dev", p.SendDev)
	inSet(true)
	if !leaves("added") {
		t.Fatal("no raw packet left from an address the node gained")
	}
	ip("addr", "del", extra+"/32", "dev", p.SendDev)
	inSet(false)
	if leaves("removed") {
		t.Fatal("a raw packet left from an address the node dropped")
	}
}
