package rawfd

import (
	"testing"

	"github.com/orbisproject/orbis/internal/nettest"
)

// TestRecvErr: IP_RECVERR and IPV6_RECVERR set from any thread of a
// sliver's process take on its UDP sockets (traceroute and tracepath
// need them) and are accepted without effect on its raw sockets (whose
// error queue would hold other slices' ICMP errors).
func TestRecvErr(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	srv := newServer(t, p, nil)
	s := newSlice(t, srv, p.SendNS, 61)
	const want = "udp=<nil>/1/<nil>/main=false raw=<nil>/0/<nil>/main=false " +
		"udp6=<nil>/1/<nil>/main=false raw6=<nil>/0/<nil>/main=false"
	if got := s.probe(t, "recverr"); got != want {
		t.Fatalf("recverr in the sliver: %q, want %q", got, want)
	}
}
