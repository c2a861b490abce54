package testbed_test

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestKernelRawSockets: on a real node, a sliver's programs (its root,
// which holds no capability on the node) ping through an ICMP datagram socket (the node widened
// ping_group_range for the sliver) and through socket(SOCK_RAW) (the
// node answers it); a raw socket sends UDP from a port the slice holds
// by its own socket, not from one it does not hold, and cannot undo its
// confinement.
func TestKernelRawSockets(t *testing.T) {
	testutil.RequireRoot(t)
	if !sandbox.RawNotifySupported() {
		t.Skip("kernel before 5.14: no SECCOMP_ADDFD_FLAG_SEND (probed)")
	}
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	n1, n2 := st.Nodes[0], st.Nodes[1]
	p := newPLC(t, st)
	name, email := testbed.Site+"_rawfd", "dora@orbis.test"
	key := newUser(t, p, email)
	newSlice(p, name, email)
	p.call("AddSliceToNodes", name, []any{n1.Hostname})
	waitRunning(t, p, name, 1)
	copyInto(t, key, name, n1, buildStatic(t, "github.com/orbisproject/orbis/internal/rawfd/testdata/probe", "probe"), "probe")
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		// What the agent said of raw sockets, and where its goroutines
		// are (SIGQUIT: the runtime writes them to the log and exits).
		syscall.Kill(n1.Proc.Pid, syscall.SIGQUIT)
		time.Sleep(2 * time.Second)
		b, _ := os.ReadFile(n1.Log)
		dump := false
		for _, l := range strings.Split(string(b), "\n") {
			dump = dump || strings.HasPrefix(l, "SIGQUIT")
			if dump || strings.Contains(l, "raw") {
				t.Log(l)
			}
		}
	})
	for _, c := range []struct{ cmd, want string }{
		{"/root/probe dgramping " + n2.Addr + " dgram", "reply"},
		{"/root/probe rawping " + n2.Addr + " raw", "reply"},
		{"/root/probe bindsend 6543 " + n2.Addr + " 9", "sent"},
		{"/root/probe send ownport " + n1.Addr + " " + n2.Addr + " unheld", "send failed: operation not permitted"},
		{"/root/probe send spoof 10.99.0.9 " + n2.Addr + " spoof", "send failed: operation not permitted"},
		{"/root/probe tamper", "detach=operation not permitted attach=operation not permitted unlock=operation not permitted setmark=operation not permitted"},
	} {
		out := ssh(t, key, name, n1, c.cmd+" 2>&1; true")
		if !strings.Contains(out, c.want) {
			t.Errorf("%q in the sliver: want %q in:\n%s", c.cmd, c.want, out)
		}
	}
}
