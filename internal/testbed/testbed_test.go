package testbed_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestTestbed brings up three nodes, each in its own network namespace
// and running its own `orbis node`, then does what a user would: a slice
// on all three, ssh into each sliver with OpenSSH, a server in one sliver
// reached from slivers on the other nodes. Then down leaves nothing
// behind, and a second down is harmless.
func TestTestbed(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 3)
	st, out := up(t, cfg)
	checkUpOutput(t, st, out.String())

	var again bytes.Buffer
	cfg2 := cfg
	cfg2.Out = &again
	if _, err := testbed.Up(context.Background(), cfg2); !errors.Is(err, testbed.ErrRunning) {
		t.Errorf("a second up: %v, want %v", err, testbed.ErrRunning)
	}

	// The same prefix from another directory: refused, and untouched.
	other := cfg
	other.Dir = t.TempDir()
	if _, err := testbed.Up(context.Background(), other); err == nil || !strings.Contains(err.Error(), cfg.Dir) {
		t.Errorf("up with a prefix in use elsewhere: %v, want an error naming %s", err, cfg.Dir)
	}
	if _, err := testbed.Down(context.Background(), other); err == nil || !strings.Contains(err.Error(), cfg.Dir) {
		t.Errorf("down with a prefix in use elsewhere: %v, want an error naming %s", err, cfg.Dir)
	}

	p := newPLC(t, st)
	key := newUser(t, p, "tess@orbis.test")
	slice := testbed.Site + "_e2e"
	newSlice(p, slice, "tess@orbis.test")
	p.call("AddSliceToNodes", slice, hostnames(st))
	waitRunning(t, p, slice, len(st.Nodes))

	for _, n := range st.Nodes {
		if h := strings.TrimSpace(ssh(t, key, slice, n, "hostname")); h != slice {
			t.Errorf("hostname in the sliver on %s: %q, want %q", n.Hostname, h, slice)
		}
		// The sliver shares its node's network namespace: it sees that
		// node's address and no other node's.
		fib := ssh(t, key, slice, n, "cat /proc/net/fib_trie")
		for _, m := range st.Nodes {
			if has := strings.Contains(fib, m.Addr); has != (m.Addr == n.Addr) {
				t.Errorf("sliver on %s: %s in its addresses is %v", n.Hostname, m.Addr, has)
			}
		}
	}

	server := st.Nodes[0]
	ssh(t, key, slice, server, "mkdir -p /tmp/www && echo hello from "+server.Hostname+" > /tmp/www/index.html && httpd -p 8080 -h /tmp/www")
	for _, n := range st.Nodes[1:] {
		got := ssh(t, key, slice, n, "wget -q -O - http://"+server.Addr+":8080/index.html")
		if want := "hello from " + server.Hostname; strings.TrimSpace(got) != want {
			t.Errorf("fetched from %s on %s: %q, want %q", server.Hostname, n.Hostname, got, want)
		}
	}

	// ping and traceroute from an unprivileged user in a sliver reach a
	// peer node, through the node's safe raw socket service. (By full
	// path: busybox's shell runs its own applets before looking in PATH.)
	peer := st.Nodes[1]
	got := ssh(t, key, slice, server, "echo 'u:x:1000:1000::/tmp:/bin/sh' >> /etc/passwd; su u -c 'id -u; /usr/bin/ping -c 2 -i 0.2 "+peer.Addr+"; /usr/bin/traceroute -m 3 "+peer.Addr+"'")
	if !strings.HasPrefix(got, "1000\n") || !strings.Contains(got, "from "+peer.Addr) || !strings.Contains(got, " "+peer.Addr) {
		t.Errorf("ping and traceroute as an unprivileged user in a sliver on %s to %s:\n%s", server.Hostname, peer.Addr, got)
	}
	t.Logf("ping and traceroute in a sliver:\n%s", got)

	checkStatus(t, cfg, slice)

	if _, err := testbed.Down(context.Background(), cfg); err != nil {
		t.Fatalf("down: %v", err)
	}
	if left := leftovers(cfg, st); len(left) > 0 {
		t.Errorf("left after down:\n%s", strings.Join(left, "\n"))
	}
	r, err := testbed.Down(context.Background(), cfg)
	if err != nil || r != (testbed.Removed{}) {
		t.Errorf("second down: removed %v, %v; want nothing and no error", r, err)
	}
	if _, err := testbed.Status(context.Background(), cfg); !errors.Is(err, testbed.ErrNotRunning) {
		t.Errorf("status after down: %v, want %v", err, testbed.ErrNotRunning)
	}
}

// checkUpOutput checks that up told of each node and printed the table
// and the way in.
func checkUpOutput(t *testing.T, st *testbed.State, out string) {
	t.Helper()
	if !strings.HasPrefix(st.CentralURL, "https://") || !strings.HasPrefix(st.CAHash, "sha256:") {
		t.Errorf("central at %s with CA %q: want HTTPS and a CA hash", st.CentralURL, st.CAHash)
	}
	for _, want := range []string{"central up at " + st.CentralURL, st.CAFile,
		"orbis login --central " + st.CentralURL + " --user " + testbed.AdminEmail + " --ca-hash " + st.CAHash, st.AdminFile} {
		if !strings.Contains(out, want) {
			t.Errorf("up's output lacks %q:\n%s", want, out)
		}
	}
	for _, n := range st.Nodes {
		// Each node pinned central's CA when it registered.
		creds, ok, err := rm.LoadCredentials(filepath.Join(n.StateDir, "rm"))
		certs, perr := api.ParseCA([]byte(creds.CA))
		if err != nil || !ok || perr != nil || api.CAHash(certs[0]) != st.CAHash {
			t.Errorf("%s's credentials: %v %v %v; want central's CA %s pinned", n.Hostname, ok, err, perr, st.CAHash)
		}
	}
	for _, n := range st.Nodes {
		line := fmt.Sprintf("%s at %s registered, following central", n.Hostname, n.Addr)
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(n.Hostname) + ` +` + regexp.QuoteMeta(n.Addr) + ` +ssh `)
		if !strings.Contains(out, line) || !row.MatchString(out) {
			t.Errorf("up's output lacks %s's progress line or table row:\n%s", n.Hostname, out)
		}
	}
}

// waitRunning waits until central has reports of the slice's slivers
// running (or idle: booted, no process) on n nodes.
func waitRunning(t *testing.T, p *plc, slice string, n int) {
	t.Helper()
	waitFor(t, "slivers running on every node", 30*time.Second, func() bool {
		rows, _ := p.call("GetSliverReports", map[string]any{"name": slice}).([]any)
		up := 0
		for _, r := range rows {
			if s := r.(map[string]any)["state"]; s == "running" || s == "idle" {
				up++
			}
		}
		return up == n
	})
}

// checkStatus checks what `orbis testbed status` prints: an aligned row
// per node, alive, in contact with central, with the slice's sliver.
func checkStatus(t *testing.T, cfg testbed.Config, slice string) {
	t.Helper()
	r, err := testbed.Status(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	r.Print(&buf, time.Now())
	text := buf.String()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3+len(r.Nodes) || !strings.Contains(lines[0], "yes") {
		t.Fatalf("status:\n%s", text)
	}
	header := lines[2]
	for i, n := range r.Nodes {
		line := lines[3+i]
		if !n.Alive || n.LastContact.IsZero() || !strings.Contains(line, slice+"(") || !strings.HasPrefix(line, n.Node.Hostname+" ") {
			t.Errorf("status of %s: %+v\n%s", n.Node.Hostname, n, text)
		}
		for _, col := range []string{"ADDRESS", "PID", "ALIVE", "LAST CONTACT", "SLIVERS"} {
			if c := strings.Index(header, col); len(line) <= c || line[c-1] != ' ' || line[c] == ' ' {
				t.Errorf("status column %s not aligned:\n%s", col, text)
			}
		}
	}
}

// TestCrash kills every process of a testbed whose sliver runs a
// process, as a crash or a lost shell would. Down still removes it all;
// and before that, a new up cleans up after the dead testbed by itself.
func TestCrash(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 1)
	st, _ := up(t, cfg)
	n := st.Nodes[0]
	self, _ := os.Readlink("/proc/self/ns/mnt")
	nodeMnt, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", n.Proc.Pid))
	selfNet, _ := os.Readlink("/proc/self/ns/net")
	nodeNet, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", n.Proc.Pid))
	if nodeMnt != self || nodeNet == selfNet || nodeNet == "" {
		t.Errorf("node agent's namespaces: mount %s (want ours, %s), net %s (want its own)", nodeMnt, self, nodeNet)
	}

	p := newPLC(t, st)
	key := newUser(t, p, "crash@orbis.test")
	slice := testbed.Site + "_crash"
	newSlice(p, slice, "crash@orbis.test")
	p.call("AddSliceToNodes", slice, hostnames(st))
	waitRunning(t, p, slice, 1)
	ssh(t, key, slice, n, "sleep 1000 </dev/null >/dev/null 2>&1 &")
	dead := sliverProcs(st, cfg.UIDRanges) // the crashed node's, to be swept by up
	if len(dead) == 0 {
		t.Fatal("no process runs in the sliver")
	}
	for _, pr := range []testbed.Proc{n.Proc, st.Central} {
		syscall.Kill(pr.Pid, syscall.SIGKILL)
	}
	waitFor(t, "the testbed's processes to die", 5*time.Second, func() bool { return !n.Proc.Alive() && !st.Central.Alive() })

	st2, _ := up(t, cfg)
	if st2.Nodes[0].Proc == n.Proc {
		t.Fatal("up after a crash did not start a new node")
	}
	// The new node may start the sliver's init again (its boot script);
	// none of the dead node's processes may be left.
	now := sliverProcs(st, cfg.UIDRanges)
	if left := slices.DeleteFunc(dead, func(p string) bool { return !slices.Contains(now, p) }); len(left) > 0 {
		t.Errorf("up after a crash left the dead node's sliver processes: %v", left)
	}
	ssh(t, key, slice, st2.Nodes[0], "sleep 1000 </dev/null >/dev/null 2>&1 &")
	syscall.Kill(st2.Nodes[0].Proc.Pid, syscall.SIGKILL)
	syscall.Kill(st2.Central.Pid, syscall.SIGKILL)
	if err := os.Remove(filepath.Join(cfg.Dir, "testbed.json")); err != nil {
		t.Fatal(err)
	}
	r, err := testbed.Down(context.Background(), cfg)
	if err != nil {
		t.Fatalf("down without a state file: %v", err)
	}
	t.Logf("down after a crash, without a state file: removed %v", r)
	if left := leftovers(cfg, st2); len(left) > 0 {
		t.Errorf("left after down:\n%s", strings.Join(left, "\n"))
	}
}
