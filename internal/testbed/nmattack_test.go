package testbed_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// buildNMProbe builds testdata/nmprobe, static, for slivers.
func buildNMProbe(t *testing.T) string {
	return buildStatic(t, "./testdata/nmprobe", "nmprobe")
}

// privileged makes a slice with the node manager privilege (and the
// extra tags), on every node of st, and waits for it to run.
func privileged(t *testing.T, p *plc, st *testbed.State, name, email string, tags ...[2]string) {
	t.Helper()
	newSlice(p, name, email)
	for _, tag := range append([][2]string{{"nm_controller", "1"}}, tags...) {
		p.call("AddSliceTag", name, tag[0], tag[1])
	}
	p.call("AddSliceToNodes", name, hostnames(st))
	waitRunning(t, p, name, len(st.Nodes))
}

// setPolicy writes the local policy of node n and waits until the node
// has loaded it.
func setPolicy(t *testing.T, n testbed.Node, policy string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(n.StateDir, "policy"), []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	// The agent reads its policy at start and on SIGHUP only.
	if err := syscall.Kill(n.Proc.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, n.Hostname+" to load its local policy", 20*time.Second, func() bool {
		b, _ := os.ReadFile(n.Log)
		return strings.Contains(string(b), "local policy loaded")
	})
}

// ownedBy counts the live rcaps on n owned by slice.
func ownedBy(t *testing.T, n testbed.Node, slice string) int {
	t.Helper()
	l, err := api.NewNMClient(n.NMSocket).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, r := range l.Rcaps {
		if r.Owner == "slice:"+slice {
			k++
		}
	}
	return k
}

// TestNMPolicyHoard (issue 18 item 3) performs the hoard on a real
// sliver: under the node's local policy line "broker * slivers=0", a
// slice with the node manager privilege and no broker line of its own
// acquires cpu_guarantee 450, memory_guarantee 6G, and an rcap with no
// end, from inside its sliver through /run/orbis-nm/nm.sock. Each is
// refused, the slice holds no rcap, and central's slice that wants 60% of
// the CPU guaranteed still gets it.
func TestNMPolicyHoard(t *testing.T) {
	testutil.RequireRoot(t)
	bin := buildNMProbe(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n := st.Nodes[0]
	p := newPLC(t, st)
	const email = "hoard@orbis.test"
	key := newUser(t, p, email)
	setPolicy(t, n, "broker * slivers=0\n")
	hoarder := testbed.Site + "_hoard"
	privileged(t, p, st, hoarder, email)
	copyInto(t, key, hoarder, n, bin, "nmprobe")

	end := time.Now().Add(time.Hour).Unix()
	for _, rs := range []string{
		fmt.Sprintf(`{"cpu_guarantee": 450, "end": %d}`, end),
		fmt.Sprintf(`{"memory_guarantee": %d, "end": %d}`, int64(6)<<30, end),
		`{"cpu_guarantee": 450}`,
		fmt.Sprintf(`{"end": %d}`, end),
	} {
		out, err := sshOut(key, hoarder, n, "/root/nmprobe acquire '"+rs+"'")
		if err == nil || !strings.Contains(out, "refused:") {
			t.Errorf("the hoarder acquired %s: %v\n%s", rs, err, out)
		}
		t.Logf("the hoarder's acquire %s: %s", rs, strings.TrimSpace(out))
	}
	if k := ownedBy(t, n, hoarder); k != 0 {
		t.Errorf("the hoarder owns %d rcaps", k)
	}

	victim := testbed.Site + "_guaranteed"
	newSlice(p, victim, email)
	p.call("AddSliceTag", victim, "cpu_pct", "60")
	p.call("AddSliceToNodes", victim, hostnames(st))
	waitRunning(t, p, victim, 1)
	rs := boundRspec(t, n, victim, func(api.Rspec) bool { return true })
	if rs.CPUGuarantee != 600 {
		t.Errorf("the victim's cpu_guarantee is %d, want 600", rs.CPUGuarantee)
	}
}

// TestNMPassFlood (issue 18 item 6) performs the flood on real slivers:
// a slice with the node manager privilege acquires 1,023 rcaps of nothing
// and passes them all to a broker (a privileged slice with a delegation)
// from inside its sliver. The broker owns them all, and still acquires
// and splits its pool from inside its own sliver.
func TestNMPassFlood(t *testing.T) {
	testutil.RequireRoot(t)
	bin := buildNMProbe(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n := st.Nodes[0]
	p := newPLC(t, st)
	const email = "flood@orbis.test"
	key := newUser(t, p, email)
	flooder, receiver := testbed.Site+"_flood", testbed.Site+"_recv"
	privileged(t, p, st, flooder, email)
	privileged(t, p, st, receiver, email, [2]string{"delegate_slivers", "1"}, [2]string{"delegate_cpu_shares", "4"})
	copyInto(t, key, flooder, n, bin, "nmprobe")
	copyInto(t, key, receiver, n, bin, "nmprobe")

	const flood = 1023
	end := time.Now().Add(time.Hour).Unix()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := fmt.Sprintf("/root/nmprobe flood %s %d %d", receiver, flood, end)
	out, err := sshCmd(ctx, key, flooder, n, cmd).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("passed %d", flood)) {
		t.Fatalf("the flood did not happen (the test proves nothing): %v\n%s", err, out)
	}
	if k := ownedBy(t, n, receiver); k != flood+1 {
		t.Fatalf("the receiver owns %d rcaps, want the %d passed and its pool", k, flood)
	}

	for _, c := range []string{
		fmt.Sprintf(`acquire '{"cpu_shares": 1, "end": %d}'`, end),
		fmt.Sprintf(`acquire '{"cpu_shares": 1, "end": %d}'`, end),
		`split '{"cpu_shares": 1, "privileges": {"create_sliver": true}}'`,
	} {
		out, err := sshOut(key, receiver, n, "/root/nmprobe "+c)
		if err != nil {
			t.Errorf("the receiver's %s after the flood: %v\n%s", c, err, out)
		}
	}
	out2, err := sshOut(key, receiver, n, "/root/nmprobe rcaps")
	if want := fmt.Sprintf("owned %d pool 1", flood+4); err != nil || !strings.Contains(out2, want) {
		t.Errorf("the receiver's rcaps: %v %q, want %q", err, out2, want)
	}
}

// TestTwoTestbedsUIDs (issue 18 item 10): a second testbed on this
// machine asked to use the first's --uid-base says so when it starts, and
// its slivers get host UID ranges that the first's slivers do not use; an
// admin ps in it never names the first testbed's processes.
func TestTwoTestbedsUIDs(t *testing.T) {
	testutil.RequireRoot(t)
	adminBin := buildAdminTool(t)
	cfgA := testConfig(t, 1)
	cfgB := testConfig(t, 1)
	// The same UIDs, on purpose; everything else apart (names no other
	// run's sweep takes for a dead run's).
	cfgB.Prefix = strings.TrimSuffix(cfgA.Prefix, "x") + "y"
	cfgB.Subnet = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 214, cfgA.Subnet.Addr().As4()[2], 0}), 24)
	stA, _ := up(t, cfgA)
	pA := newPLC(t, stA)
	const email = "uids@orbis.test"
	keyA := newUser(t, pA, email)
	sliceA := testbed.Site + "_first"
	newSlice(pA, sliceA, email)
	pA.call("AddSliceToNodes", sliceA, hostnames(stA))
	waitRunning(t, pA, sliceA, 1)
	ssh(t, keyA, sliceA, stA.Nodes[0], "setsid sleep 31337 </dev/null >/dev/null 2>&1 &")

	stB, _ := up(t, cfgB)
	if stB.Nodes[0].UIDBase != stA.Nodes[0].UIDBase {
		t.Fatalf("UID bases %d and %d: the overlap was not built", stA.Nodes[0].UIDBase, stB.Nodes[0].UIDBase)
	}
	logB, _ := os.ReadFile(stB.Nodes[0].Log)
	if !strings.Contains(string(logB), "overlap another Orbis node's") || !strings.Contains(string(logB), "--uid-base") {
		t.Errorf("the second testbed's node did not say its UID ranges overlap another node's (--uid-base)")
	}
	pB := newPLC(t, stB)
	keyB := newUser(t, pB, email)
	sliceB, adm := testbed.Site+"_second", testbed.Site+"_adm"
	newSlice(pB, sliceB, email)
	newSlice(pB, adm, email)
	pB.call("AddSliceTag", adm, "admin", "1")
	pB.call("AddSliceToNodes", sliceB, hostnames(stB))
	pB.call("AddSliceToNodes", adm, hostnames(stB))
	waitRunning(t, pB, sliceB, 1)
	waitRunning(t, pB, adm, 1)

	a, b := uidRanges(t, stA.Nodes[0]), uidRanges(t, stB.Nodes[0])
	for sa, ua := range a {
		for sb, ub := range b {
			if ua < ub+nodemgr.UIDRangeSize && ub < ua+nodemgr.UIDRangeSize {
				t.Errorf("%s (first testbed, UIDs from %d) and %s (second, from %d) overlap", sa, ua, sb, ub)
			}
		}
	}
	copyInto(t, keyB, adm, stB.Nodes[0], adminBin, "orbis-admin")
	ps := ssh(t, keyB, adm, stB.Nodes[0], "/root/orbis-admin ps")
	if strings.Contains(ps, "31337") || strings.Contains(ps, sliceA) {
		t.Errorf("the second testbed's admin ps names the first's processes:\n%s", ps)
	}
	if !strings.Contains(ps, sliceB) {
		t.Errorf("the admin ps lacks its own testbed's slice %s (the check proves nothing):\n%s", sliceB, ps)
	}
}

// uidRanges returns the first host UID of each sliver on n, by slice.
func uidRanges(t *testing.T, n testbed.Node) map[string]uint32 {
	t.Helper()
	l, err := api.NewNMClient(n.NMSocket).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, s := range l.Slivers {
		if s.UIDCount != nodemgr.UIDRangeSize {
			t.Fatalf("sliver %s has %d UIDs, want %d", s.Name, s.UIDCount, nodemgr.UIDRangeSize)
		}
		out[s.Name+"@"+n.Hostname] = s.UIDBase
	}
	return out
}
