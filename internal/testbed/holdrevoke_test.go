package testbed_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestReservationRevokesHold: a slice holds a port with a raw socket and
// a sniffer (and the listener they need), on one node of two; then an
// admin reserves that port for another slice (tag ports) and adds it to
// the node. The reservation wins: the victim's sliver comes up, the
// attacker's raw and sniffer sockets are hung up on with the reason, its
// drop rule is gone (a client on the far node reaches the port), its
// sniffer captured none of that client's packets, and it can neither
// raw-bind nor listen on the port again; once its old listener is closed,
// the victim serves on the port.
func TestReservationRevokesHold(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	key := newUser(t, p, "hold@orbis.test")
	attackerSlice, victimSlice := testbed.Site+"_holdatt", testbed.Site+"_holdvic"
	n, far := st.Nodes[0], st.Nodes[1]
	const port = "9191"
	bin := buildStatic(t, "./testdata/rawprobe", "rawprobe")

	newSlice(p, attackerSlice, "hold@orbis.test")
	p.call("AddSliceToNodes", attackerSlice, []any{n.Hostname})
	waitRunning(t, p, attackerSlice, 1)
	copyToSliver(t, key, attackerSlice, n, bin, "/root/rawprobe")
	at := startProbe(t, key, attackerSlice, n)
	at.want(t, "listen tcp 0.0.0.0:"+port, "listen: ok "+port)
	at.want(t, "raw tcp "+port, "raw: ok")
	at.want(t, "sniff tcp "+port, "sniff: ok")

	newSlice(p, victimSlice, "hold@orbis.test")
	p.call("AddSliceTag", victimSlice, "ports", "tcp/"+port)
	p.call("AddSliceToNodes", victimSlice, []any{n.Hostname})
	waitRunning(t, p, victimSlice, 1)

	reason := "tcp port " + port + " is now reserved for slice " + victimSlice
	for _, kind := range []string{"raw", "sniff"} {
		if end := at.wait(t, kind+" end ", 10*time.Second); !strings.Contains(end, reason) {
			t.Errorf("the attacker's %s socket ended with %q, want a hang-up saying %q", kind, end, reason)
		}
	}
	// No drop rule left: the far node's client reaches the attacker's
	// listener (which the kernel answers), and no sniffer sees it.
	cookie := "orbis-cookie-after-reservation"
	visit(t, far, netip.AddrPort{}, n.Addr+":"+port, cookie, false)
	at.wantNoPacket(t, cookie)
	for _, kind := range []string{"raw", "sniff"} {
		at.want(t, kind+" tcp "+port, kind+": refused bind raw socket: raw socket service: tcp port "+port+" is reserved for another slice")
	}
	at.want(t, "close", "close: ok")
	at.want(t, "listen tcp 0.0.0.0:"+port, "listen: EPERM")

	copyToSliver(t, key, victimSlice, n, bin, "/root/rawprobe")
	victim := startProbe(t, key, victimSlice, n)
	victim.want(t, "bindloop "+n.Addr+":"+port, "bindloop:  ok ")
	visit(t, far, netip.AddrPort{}, n.Addr+":"+port, "orbis-cookie-victim", true)
	at.stop(t)
	at.wantNoPacket(t, "orbis-cookie-victim")
	victim.stop(t)
}
