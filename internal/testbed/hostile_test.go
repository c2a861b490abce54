package testbed_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestHostileSlices performs three of issue 18's attacks on a 2-node
// testbed. A plain user of a slice sets its instantiation to
// nm-controller (PLCAPI UpdateSlice): its slivers get no node manager
// privilege, while the admin's next change to the slice reaches the
// nodes. A broker (tag nm_controller=1 with a delegation) binds a split
// of its pool to the name of a slice central removed from its node, with
// its own key: the node manager refuses, no one can log in under that
// name, and when central adds the slice back its sliver runs. The site's
// admin slice on one node stops the other node's agent and lists the
// host's processes: refused, the agent runs on, and ps shows no host
// process.
func TestHostileSlices(t *testing.T) {
	testutil.RequireRoot(t)
	bin := buildLeaseBroker(t) // a node manager client for the broker's sliver
	adminBin := buildAdminTool(t)
	cfg := testConfig(t, 2)
	st, _ := up(t, cfg)
	n2 := st.Nodes[1]
	p := newPLC(t, st)
	const email = "hostile@orbis.test"
	key := newUser(t, p, email)
	user := &plc{t: t, rpc: p.rpc, auth: xmlrpc.PasswordAuth(email, "testbed-password")}

	evil := testbed.Site + "_evil"
	newSlice(p, evil, email)
	p.call("AddSliceToNodes", evil, hostnames(st))
	waitRunning(t, p, evil, 2)
	user.call("UpdateSlice", evil, map[string]any{"instantiation": "nm-controller"})
	p.call("AddSliceTag", evil, "cpu_share", "7") // a change that reaches the nodes after the user's
	for _, n := range st.Nodes {
		rs := boundRspec(t, n, evil, func(rs api.Rspec) bool { return rs.CPUShares == 7 })
		if rs.Privileges.NodeManager || rs.Delegated != nil {
			t.Errorf("%s: the user's update gave %s %+v", n.Hostname, evil, rs.Privileges)
		}
	}
	if out, _ := sshOut(key, evil, n2, "ls /run/orbis-nm 2>&1"); !strings.Contains(out, "No such file") {
		t.Errorf("the user's slice has /run/orbis-nm: %q", out)
	}

	victim, broker := testbed.Site+"_victim", testbed.Site+"_broker"
	newSlice(p, victim, email)
	p.call("AddSliceTag", victim, "ports", "tcp/8080")
	p.call("AddSliceToNodes", victim, hostnames(st))
	newSlice(p, broker, email)
	for _, tag := range [][2]string{{"nm_controller", "1"}, {"delegate_slivers", "2"}, {"delegate_cpu_shares", "4"}} {
		p.call("AddSliceTag", broker, tag[0], tag[1])
	}
	p.call("AddSliceToNodes", broker, hostnames(st))
	waitRunning(t, p, victim, 2)
	waitRunning(t, p, broker, 2)
	p.call("DeleteSliceFromNodes", victim, []any{n2.Hostname})
	waitFor(t, "the victim's sliver gone from "+n2.Hostname, 30*time.Second, func() bool {
		_, ok := boundRspecNow(n2, victim)
		return !ok
	})
	copyInto(t, key, broker, n2, bin, "orbis-lease")
	out, err := sshOut(key, broker, n2, "/root/orbis-lease split --cpu-shares 1 --slice "+victim+" --key /root/key.pub")
	if err == nil || !strings.Contains(out, "not slice:"+broker+"'s to bind") {
		t.Errorf("the broker binding %s on %s: %v\n%s", victim, n2.Hostname, err, out)
	}
	if sshWorks(key, victim, n2) {
		t.Errorf("ssh %s@%s works after the broker's bind", victim, n2.Hostname)
	}
	p.call("AddSliceToNodes", victim, []any{n2.Hostname})
	rs := boundRspec(t, n2, victim, func(api.Rspec) bool { return true })
	if len(rs.Ports) != 1 || rs.Ports[0] != (api.Port{Proto: "tcp", Port: 8080}) {
		t.Errorf("the victim back on %s holds ports %v", n2.Hostname, rs.Ports)
	}
	waitRunning(t, p, victim, 2)

	adm := testbed.Site + "_adm"
	newSlice(p, adm, email)
	p.call("AddSliceTag", adm, "admin", "1")
	p.call("AddSliceToNodes", adm, []any{st.Nodes[0].Hostname})
	waitRunning(t, p, adm, 1)
	copyInto(t, key, adm, st.Nodes[0], adminBin, "orbis-admin")
	agent := strconv.Itoa(n2.Proc.Pid)
	out, err = sshOut(key, adm, st.Nodes[0], "/root/orbis-admin kill "+agent+" STOP")
	if err == nil || !strings.Contains(out, "not a sliver's process") {
		t.Errorf("the admin slice stopping %s's agent: %v\n%s", n2.Hostname, err, out)
	}
	if b, _ := os.ReadFile("/proc/" + agent + "/stat"); strings.Contains(string(b), ") T ") {
		exec.Command("kill", "-CONT", agent).Run()
		t.Errorf("%s's agent was stopped", n2.Hostname)
	}
	ps := ssh(t, key, adm, st.Nodes[0], "/root/orbis-admin ps")
	if strings.Contains(ps, "orbis node") || strings.Contains(ps, " "+agent+" ") {
		t.Errorf("the admin slice's ps lists host processes:\n%s", ps)
	}
	if !strings.Contains(ps, adm) {
		t.Errorf("the admin slice's ps lacks its own processes:\n%s", ps)
	}
}

// buildAdminTool builds orbis-admin, the admin slice's client.
func buildAdminTool(t *testing.T) string {
	return buildStatic(t, "github.com/orbisproject/orbis/internal/admin/cmd/orbis-admin", "orbis-admin")
}

// boundRspecNow is the rspec of the rcap slice's sliver is bound to on n.
func boundRspecNow(n testbed.Node, slice string) (api.Rspec, bool) {
	l, err := api.NewNMClient(n.NMSocket).List(context.Background())
	if err != nil {
		return api.Rspec{}, false
	}
	for _, s := range l.Slivers {
		if s.Name != slice {
			continue
		}
		for _, r := range l.Rcaps {
			if r.ID == s.Rcap {
				return r.Rspec, true
			}
		}
	}
	return api.Rspec{}, false
}

// boundRspec waits until slice's sliver on n is bound to an rspec for
// which ready holds, and returns it.
func boundRspec(t *testing.T, n testbed.Node, slice string, ready func(api.Rspec) bool) api.Rspec {
	t.Helper()
	var rs api.Rspec
	waitFor(t, slice+"'s rspec on "+n.Hostname, 30*time.Second, func() bool {
		var ok bool
		rs, ok = boundRspecNow(n, slice)
		return ok && ready(rs)
	})
	return rs
}

// copyInto copies the binary bin to /root/NAME in slice's sliver on n,
// with the user's public key beside it.
func copyInto(t *testing.T, key, slice string, n testbed.Node, bin, name string) {
	t.Helper()
	copyToSliver(t, key, slice, n, bin, "/root/"+name)
	pub, _ := os.ReadFile(key + ".pub")
	ssh(t, key, slice, n, "echo '"+strings.TrimSpace(string(pub))+"' > /root/key.pub")
}
