package central_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/plc"
	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/cli/verbs"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

// centralEntry is the hidden entry point of a child that is `orbis
// central` with the arguments it is given.
const centralEntry = "orbistest-central"

func init() { reexec.Register(centralEntry, centralMain) }

func centralMain() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	verbs.Register()
	if err := cli.Run(ctx, append([]string{"central"}, os.Args[1:]...), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "orbis central:", err)
		os.Exit(1)
	}
}

// centralProc is one `orbis central` process of a test.
type centralProc struct {
	name string
	cmd  *exec.Cmd
	log  string // its stderr
	url  string // https://127.0.0.1:PORT
}

// startCentralProc starts `orbis central` at addr (127.0.0.1:0: a loopback
// port of its own), on database db with data directory dir, and waits
// until it listens.
func startCentralProc(t testing.TB, name, addr, db, dir string) *centralProc {
	t.Helper()
	p := &centralProc{name: name, log: filepath.Join(t.TempDir(), name+".log")}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	p.cmd = reexec.Command(centralEntry, "--addr", addr, "--data", dir, "--db", db, "--admin-email", "admin@orbis.test")
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.kill)
	re := regexp.MustCompile(`msg="central listening" url=(https://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(p.log)
		if m := re.FindSubmatch(b); m != nil {
			p.url = string(m[1])
			return p
		}
		if time.Now().After(deadline) || p.cmd.ProcessState != nil {
			t.Fatalf("central %s did not start:\n%s", name, b)
		}
	}
}

// kill ends the process at once, as a crash would.
func (p *centralProc) kill() {
	if p.cmd.Process != nil && p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// hostPort is the process's address.
func (p *centralProc) hostPort() string { return strings.TrimPrefix(p.url, "https://") }

// multiEnv is two central processes on one PostgreSQL database and one
// data directory (so one CA), haproxy in front, and the clients of a test.
type multiEnv struct {
	t       testing.TB
	db, dir string
	procs   map[string]*centralProc
	lb      *haproxy
	https   *http.Client
	adm     central.Admin
	secrets map[int64]string // the nodes' HMAC keys
}

func newMultiEnv(t testing.TB) *multiEnv {
	e := &multiEnv{t: t, db: pgtest.DB(t), dir: t.TempDir(), procs: map[string]*centralProc{}, secrets: map[int64]string{}}
	// The first start makes the CA and the admin; the second finds them.
	e.procs["a"] = startCentralProc(t, "a", "127.0.0.1:0", e.db, e.dir)
	e.procs["b"] = startCentralProc(t, "b", "127.0.0.1:0", e.db, e.dir)
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range e.procs {
				b, _ := os.ReadFile(p.log)
				t.Logf("central %s's log:\n%s", p.name, b)
			}
		}
	})
	pem, err := os.ReadFile(central.CAFile(e.dir))
	if err != nil {
		t.Fatal(err)
	}
	v, err := api.NewVerifier(api.Trust{CA: pem})
	if err != nil {
		t.Fatal(err)
	}
	e.https = v.HTTPClient()
	if e.adm, err = readAdmin(e.dir); err != nil {
		t.Fatal(err)
	}
	e.lb = startHAProxy(t, e.procs["a"], e.procs["b"])
	return e
}

func readAdmin(dir string) (central.Admin, error) {
	var adm central.Admin
	b, err := os.ReadFile(central.AdminFile(dir))
	if err != nil {
		return adm, err
	}
	return adm, json.Unmarshal(b, &adm)
}

// call calls PLCAPI at url as the admin, failing the test on an error.
func (e *multiEnv) call(url, method string, args ...any) any {
	e.t.Helper()
	r, err := e.callAuth(url, xmlrpc.PasswordAuth(e.adm.Email, e.adm.Password), method, args...)
	if err != nil {
		e.t.Fatalf("%s at %s: %v", method, url, err)
	}
	return r
}

// callAuth calls PLCAPI at url with auth, on a new connection each time,
// retrying for up to 10 s as a client behind a load balancer does when
// the process it reached dies. A fault is returned at once.
func (e *multiEnv) callAuth(url string, auth map[string]any, method string, args ...any) (any, error) {
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		rpc := xmlrpc.NewClient(url + "/PLCAPI/")
		tr := e.https.Transport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		rpc.HTTP = &http.Client{Transport: tr, Timeout: 10 * time.Second}
		var r any
		if r, err = rpc.Call(context.Background(), method, append([]any{auth}, args...)...); err == nil {
			return r, nil
		}
		var f *plc.Fault
		if errors.As(err, &f) {
			return nil, err // central answered: no retry
		}
	}
	return nil, err
}

// node registers a node through url and returns a client of its channel
// at url.
func (e *multiEnv) node(url string, site any, host string) *api.NodeClient {
	e.t.Helper()
	id := e.call(url, "AddNode", site, map[string]any{"hostname": host})
	token := e.call(url, "AddNodeToken", id).(string)
	resp, err := api.RegisterNode(context.Background(), url, e.https, api.NodeRegisterRequest{Token: token, Hostname: host})
	if err != nil {
		e.t.Fatalf("register %s at %s: %v", host, url, err)
	}
	e.secrets[resp.NodeID] = resp.Secret
	return api.NewNodeClient(url, resp.NodeID, resp.Secret, e.nodeHTTP())
}

// nodeHTTP is a node's HTTP client: its own connections, kept alive.
func (e *multiEnv) nodeHTTP() *http.Client {
	return &http.Client{Transport: e.https.Transport.(*http.Transport).Clone()}
}

// wakeUp has nc long-poll its list and makes change through changeURL
// once the long-poll waits; it fails the test unless the node has the
// list naming slice (or, with gone, no longer naming it) within a second
// of the change.
func (e *multiEnv) wakeUp(nc *api.NodeClient, slice string, gone bool, change func()) time.Duration {
	e.t.Helper()
	ctx := testutil.Context(e.t)
	var cur api.Slivers
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if cur, err = nc.Slivers(ctx, -1); err == nil {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("node %d: current list: %v", nc.NodeID(), err)
		}
	}
	type result struct {
		list api.Slivers
		at   time.Time
		err  error
	}
	got := make(chan result, 1)
	go func() {
		l, err := nc.Slivers(ctx, cur.Version)
		got <- result{l, time.Now(), err}
	}()
	time.Sleep(300 * time.Millisecond) // the long-poll is waiting
	start := time.Now()
	change()
	select {
	case r := <-got:
		if r.err != nil {
			e.t.Fatalf("node %d: long-poll: %v", nc.NodeID(), r.err)
		}
		has := slices.ContainsFunc(r.list.Slivers, func(s api.Sliver) bool { return s.Name == slice })
		if has == gone || r.list.Version == cur.Version {
			e.t.Fatalf("node %d: woken with version %d (had %d), slice %s listed %v, want %v", nc.NodeID(), r.list.Version, cur.Version, slice, has, !gone)
		}
		d := r.at.Sub(start)
		if d > time.Second {
			e.t.Fatalf("node %d: the change reached the node after %v, want within 1 s", nc.NodeID(), d)
		}
		return d
	case <-time.After(time.Second + 500*time.Millisecond):
		e.t.Fatalf("node %d: no wake-up within 1 s of the change", nc.NodeID())
	}
	return 0
}

// TestTwoCentralsWakeAcross runs two `orbis central` processes on one
// PostgreSQL database: a change made through either process wakes a
// node's long-poll held by the other within a second, both ways, the
// long-poll and the change each going straight to one process. A PLCAPI
// session is shared too: made through one, deleted through the other.
func TestTwoCentralsWakeAcross(t *testing.T) {
	e := newMultiEnv(t)
	a, b := e.procs["a"], e.procs["b"]
	site := e.call(a.url, "AddSite", map[string]any{"name": "Multi", "abbreviated_name": "M", "login_base": "mu", "max_slices": 10, "enabled": true})
	e.call(a.url, "AddSlice", map[string]any{"name": "mu_x", "url": "http://x", "description": "x", "max_nodes": 10})
	// A session made through one process works through the other, and
	// ends for both when either deletes it.
	session := e.call(a.url, "GetSession").(string)
	if _, err := e.callAuth(b.url, xmlrpc.SessionAuth(session), "GetSites", []any{"mu"}); err != nil {
		t.Fatalf("a's session at b: %v", err)
	}
	if _, err := e.callAuth(b.url, xmlrpc.SessionAuth(session), "DeleteSession"); err != nil {
		t.Fatalf("DeleteSession at b: %v", err)
	}
	if _, err := e.callAuth(a.url, xmlrpc.SessionAuth(session), "GetSites", []any{"mu"}); err == nil {
		t.Fatal("a still takes the session b deleted")
	}
	onB := e.node(b.url, site, "nb.orbis.test")
	onA := e.node(a.url, site, "na.orbis.test")
	for i := range 3 {
		d := e.wakeUp(onB, "mu_x", false, func() { e.call(a.url, "AddSliceToNodes", "mu_x", []any{"nb.orbis.test"}) })
		t.Logf("round %d: change through a woke the node on b after %v", i, d)
		d = e.wakeUp(onA, "mu_x", false, func() { e.call(b.url, "AddSliceToNodes", "mu_x", []any{"na.orbis.test"}) })
		t.Logf("round %d: change through b woke the node on a after %v", i, d)
		e.call(a.url, "DeleteSliceFromNodes", "mu_x", []any{"na.orbis.test", "nb.orbis.test"})
	}

	// With the processes' LISTEN connections cut (a PostgreSQL restart
	// or a network cut would), the timed poll still wakes nodes across
	// processes within a second.
	if n := terminateListeners(t, e.db); n < 2 {
		t.Fatalf("cut %d LISTEN connections, want one per process (2)", n)
	}
	d := e.wakeUp(onB, "mu_x", false, func() { e.call(a.url, "AddSliceToNodes", "mu_x", []any{"nb.orbis.test"}) })
	t.Logf("LISTEN cut: change through a woke the node on b after %v (the timed poll)", d)
}

// terminateListeners ends the LISTEN connections on database db, as a
// network cut would, and returns how many it ended.
func terminateListeners(t *testing.T, db string) int {
	t.Helper()
	conn, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int
	err = conn.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTwoCentralsBehindHAProxy puts haproxy in front of two central
// processes: clients and nodes reach both through it; a change through
// the balancer wakes a node long-polling through it within a second;
// nodes long-polling when a process is killed have the next change within
// 3 s (their cut long-polls retried); and with either process dead,
// PLCAPI and the node channel work on through the other (and wake-ups
// still come within a second).
func TestTwoCentralsBehindHAProxy(t *testing.T) {
	e := newMultiEnv(t)
	lb := e.lb.url
	site := e.call(lb, "AddSite", map[string]any{"name": "Multi", "abbreviated_name": "M", "login_base": "mu", "max_slices": 10, "enabled": true})
	var nodes []*api.NodeClient
	var hosts []any
	for i := range 4 {
		host := fmt.Sprintf("n%d.orbis.test", i)
		nodes = append(nodes, e.node(lb, site, host))
		hosts = append(hosts, host)
	}
	for i := range 4 {
		e.call(lb, "AddSlice", map[string]any{"name": fmt.Sprintf("mu_s%d", i), "url": "http://x", "description": "x", "max_nodes": 10})
	}
	for i, nc := range nodes {
		slice := fmt.Sprintf("mu_s%d", i)
		d := e.wakeUp(nc, slice, false, func() { e.call(lb, "AddSliceToNodes", slice, hosts[i:i+1]) })
		t.Logf("node %d woken through haproxy after %v", nc.NodeID(), d)
	}
	seen, err := e.lb.sessions()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("connections per central: %v", seen)
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("haproxy passed connections to %v: want both centrals used", seen)
	}

	for round, victim := range []string{"a", "b"} {
		// Nodes long-polling (through haproxy, so on both processes) when
		// one process dies get the next change within 3 s, retrying as
		// the node agent does.
		during := fmt.Sprintf("mu_d%d", round)
		e.call(lb, "AddSlice", map[string]any{"name": during, "url": "http://x", "description": "x", "max_nodes": 10})
		type result struct {
			cuts int
			err  error
		}
		followed := make(chan result, len(nodes))
		var changed atomic.Int64
		for _, nc := range nodes {
			go func() {
				cuts, err := follow(nc, during, &changed)
				followed <- result{cuts, err}
			}()
		}
		time.Sleep(300 * time.Millisecond) // the long-polls wait
		e.procs[victim].kill()
		survivor := "b"
		if victim == "b" {
			survivor = "a"
		}
		t.Logf("killed central %s; %s serves on", victim, survivor)
		// From before the call: a woken node may list the change before
		// the call returns.
		changed.Store(time.Now().UnixNano())
		e.call(lb, "AddSliceToNodes", during, hosts)
		cut := 0
		for range nodes {
			r := <-followed
			if r.err != nil {
				t.Fatal(r.err)
			}
			cut += r.cuts
		}
		t.Logf("every node had the change made after the kill within 3 s (%d long-polls cut by the kill, retried)", cut)
		slice := fmt.Sprintf("mu_k%d", round)
		e.call(lb, "AddSlice", map[string]any{"name": slice, "url": "http://x", "description": "x", "max_nodes": 10})
		if got := e.call(lb, "GetSlices", []any{slice}); len(got.([]any)) != 1 {
			t.Fatalf("GetSlices through haproxy after the kill: %v", got)
		}
		for i, nc := range nodes {
			d := e.wakeUp(nc, slice, false, func() { e.call(lb, "AddSliceToNodes", slice, hosts[i:i+1]) })
			t.Logf("node %d woken through haproxy with only %s after %v", nc.NodeID(), survivor, d)
		}
		// The killed process comes back at its address, on the same data
		// and database, and haproxy's health check takes it back.
		e.procs[victim] = startCentralProc(t, victim, e.procs[victim].hostPort(), e.db, e.dir)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if e.lb.up(victim) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy did not take central %s back", victim)
			}
		}
	}
}

// follow has nc follow its list, retrying a failed long-poll after
// 500 ms (the node agent's first retry), until the list names slice; it
// fails unless that comes within 3 s of the time changed holds (set
// once the change is committed). It returns how many long-polls failed.
func follow(nc *api.NodeClient, slice string, changed *atomic.Int64) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	since, cuts := int64(-1), 0
	for {
		l, err := nc.Slivers(ctx, since)
		if ctx.Err() != nil {
			return cuts, fmt.Errorf("node %d: no list naming %s in 60 s (%d long-polls cut)", nc.NodeID(), slice, cuts)
		}
		if err != nil {
			cuts++
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if slices.ContainsFunc(l.Slivers, func(s api.Sliver) bool { return s.Name == slice }) {
			if d := time.Since(time.Unix(0, changed.Load())); changed.Load() == 0 || d > 3*time.Second {
				return cuts, fmt.Errorf("node %d: %s listed %v after the change (%d long-polls cut), want within 3 s", nc.NodeID(), slice, d, cuts)
			}
			return cuts, nil
		}
		since = l.Version
	}
}

// TestCentralOwnDataDirSharedCA starts a second central process with a
// data directory of its own holding only a copy of the first's CA (the
// way to run centrals on two machines): clients that pin the CA accept
// it, it serves the same database, and it writes no admin.json, whose
// password would not be the admin's.
func TestCentralOwnDataDirSharedCA(t *testing.T) {
	e := newMultiEnv(t)
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "ca.key"} {
		b, err := os.ReadFile(filepath.Join(e.dir, "tls", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls", f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := startCentralProc(t, "c", "127.0.0.1:0", e.db, dir)
	e.procs["c"] = c
	e.call(e.procs["a"].url, "AddSite", map[string]any{"name": "Own", "abbreviated_name": "O", "login_base": "ow", "max_slices": 10, "enabled": true})
	got := e.call(c.url, "GetSites", []any{"ow"}, []any{"login_base"}).([]any)
	if len(got) != 1 {
		t.Fatalf("GetSites through c = %v, want the site made through a", got)
	}
	if _, err := os.Stat(central.AdminFile(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("c wrote %s (err %v): its password is not the admin's", central.AdminFile(dir), err)
	}
}
