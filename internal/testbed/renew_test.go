package testbed_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestRenewalOnFullNode (issue 19 item 5): a slice renewed on a node
// whose CPU guarantees are all held (60% its own, 40% another slice's)
// keeps its sliver past its old expiry, with its files and processes: the
// node extends its rcap in place, where a move to a new rcap would need
// room for both.
func TestRenewalOnFullNode(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n := st.Nodes[0]
	p := newPLC(t, st)
	const email = "renew@orbis.test"
	key := newUser(t, p, email)
	full, other := testbed.Site+"_full", testbed.Site+"_other"
	// Long enough to set up and renew on a busy machine, short for CI.
	oldEnd := time.Now().Add(time.Minute).Unix()
	newSlice(p, full, email)
	p.call("UpdateSlice", full, map[string]any{"expires": oldEnd})
	p.call("AddSliceTag", full, "cpu_pct", "60")
	newSlice(p, other, email)
	p.call("AddSliceTag", other, "cpu_pct", "40")
	p.call("AddSliceToNodes", full, hostnames(st))
	p.call("AddSliceToNodes", other, hostnames(st))
	waitRunning(t, p, full, 1)
	waitRunning(t, p, other, 1)
	if rs := boundRspec(t, n, other, func(api.Rspec) bool { return true }); rs.CPUGuarantee != 400 {
		t.Fatalf("the other slice holds cpu_guarantee %d, want 400: the node is not full", rs.CPUGuarantee)
	}
	pid := strings.TrimSpace(ssh(t, key, full, n, "echo kept > /root/kept; setsid sleep 100000 </dev/null >/dev/null 2>&1 & echo $!"))
	before := sliverRcap(t, n, full)

	newEnd := time.Now().Add(24 * time.Hour).Unix()
	p.call("UpdateSlice", full, map[string]any{"expires": newEnd})
	boundRspec(t, n, full, func(rs api.Rspec) bool { return rs.End == newEnd })
	if after := sliverRcap(t, n, full); after != before {
		t.Errorf("the renewal moved the sliver from rcap %s to %s: want the same rcap extended", before, after)
	}
	time.Sleep(time.Until(time.Unix(oldEnd+10, 0)))
	out, err := sshOut(key, full, n, "cat /root/kept; kill -0 "+pid+" && echo alive")
	if err != nil || !strings.Contains(out, "kept") || !strings.Contains(out, "alive") {
		t.Fatalf("after its old expiry the sliver lost its files or processes: %v\n%s", err, out)
	}
	rows, _ := p.call("GetSliverReports", map[string]any{"name": full}).([]any)
	if len(rows) != 1 {
		t.Fatalf("central's reports after the renewal: %v", rows)
	}
	r := rows[0].(map[string]any)
	if reason, _ := r["reason"].(string); r["state"] != "running" || reason != "" {
		t.Errorf("central's report after the renewal: %v", r)
	}
}

// sliverRcap returns the ID of the rcap slice's sliver on n is bound to.
func sliverRcap(t *testing.T, n testbed.Node, slice string) string {
	t.Helper()
	l, err := api.NewNMClient(n.NMSocket).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Slivers {
		if s.Name == slice {
			return s.Rcap
		}
	}
	t.Fatalf("no sliver %s on %s", slice, n.Hostname)
	return ""
}
