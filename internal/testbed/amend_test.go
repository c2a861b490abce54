package testbed_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestPortsSliceLimitsChange: a slice holding a reserved port
// (ports tcp/8080) gets net_max_rate 1000 and then a second port
// (tcp/8080,tcp/9090) on both nodes of a 2-node testbed. Each node
// applies both on the rcap the sliver holds (the node manager used to
// acquire a second rcap for a change, which found the slice's own port
// taken, so a slice with ports kept its old limits for good). Another
// slice cannot bind either port afterwards; the slice can, and central
// hears no problem.
func TestPortsSliceLimitsChange(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	const email = "amend@orbis.test"
	key := newUser(t, p, email)
	vic, other := testbed.Site+"_vic", testbed.Site+"_oth"
	newSlice(p, vic, email)
	newSlice(p, other, email)
	portsTag := p.call("AddSliceTag", vic, "ports", "tcp/8080")
	p.call("AddSliceToNodes", vic, hostnames(st))
	p.call("AddSliceToNodes", other, hostnames(st))
	waitRunning(t, p, vic, 2)
	waitRunning(t, p, other, 2)
	before := map[string]string{}
	for _, n := range st.Nodes {
		before[n.Hostname] = sliverRcap(t, n, vic)
	}

	for _, n := range st.Nodes {
		if classes := tcClasses(t, n); strings.Contains(classes, "ceil 1Mbit") {
			t.Fatalf("%s: a class is capped at 1 Mbit/s before the change: the test proves nothing\n%s", n.Hostname, classes)
		}
	}
	p.call("AddSliceTag", vic, "net_max_rate", "1000")
	for _, n := range st.Nodes {
		rs := boundRspec(t, n, vic, func(rs api.Rspec) bool { return rs.NetMaxRate == 1000 })
		if len(rs.Ports) != 1 || rs.Ports[0] != (api.Port{Proto: "tcp", Port: 8080}) {
			t.Errorf("%s: %s holds ports %v after the rate changed, want tcp/8080", n.Hostname, vic, rs.Ports)
		}
		waitFor(t, "a class capped at 1 Mbit/s on "+n.Hostname, 10*time.Second, func() bool {
			return strings.Contains(tcClasses(t, n), "ceil 1Mbit")
		})
		for _, line := range strings.Split(tcClasses(t, n), "\n") {
			if strings.Contains(line, "ceil 1Mbit") {
				t.Logf("%s after net_max_rate 1000: %s", n.Hostname, line)
			}
		}
	}

	p.call("UpdateSliceTag", portsTag, "tcp/8080,tcp/9090")
	want := []api.Port{{Proto: "tcp", Port: 8080}, {Proto: "tcp", Port: 9090}}
	for _, n := range st.Nodes {
		rs := boundRspec(t, n, vic, func(rs api.Rspec) bool { return slices.Equal(rs.Ports, want) })
		if rs.NetMaxRate != 1000 {
			t.Errorf("%s: net_max_rate %d after the ports changed, want 1000", n.Hostname, rs.NetMaxRate)
		}
		if got := sliverRcap(t, n, vic); got != before[n.Hostname] {
			t.Errorf("%s: the sliver moved from rcap %s to %s: want its rcap amended", n.Hostname, before[n.Hostname], got)
		}
		for _, port := range []string{"8080", "9090"} {
			out := ssh(t, key, other, n, "timeout 2 nc -l -p "+port+" </dev/null 2>&1; echo rc=$?")
			if !strings.Contains(out, "not permitted") {
				t.Errorf("%s: slice %s binding %s's port %s: %q", n.Hostname, other, vic, port, out)
			}
		}
		if out := ssh(t, key, vic, n, "timeout 1 nc -l -p 9090 </dev/null 2>&1; echo rc=$?"); strings.Contains(out, "not permitted") {
			t.Errorf("%s: %s cannot bind its new port 9090: %q", n.Hostname, vic, out)
		}
	}
	rows, _ := p.call("GetSliverReports", map[string]any{"name": vic}).([]any)
	for _, r := range rows {
		if reason, _ := r.(map[string]any)["reason"].(string); reason != "" {
			t.Errorf("central's report of %s: %v", vic, r)
		}
	}
	if len(rows) != 2 {
		t.Errorf("central has %d reports of %s, want 2", len(rows), vic)
	}
}

// tcClasses is what tc shows of the HTB classes on n's interface.
func tcClasses(t *testing.T, n testbed.Node) string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+n.Netns, "tc", "class", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("tc class show on %s: %v\n%s", n.Hostname, err, out)
	}
	return string(out)
}
