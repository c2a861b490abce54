package nodemgr

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

// docEnv is the node of the document's walk-through: the test node, the
// document's policy, the time 1800000000, and the node manager on two
// sockets, the host's and the one privileged slivers see.
type docEnv struct {
	*testEnv
	hostSock, sliverSock string
}

func newDocEnv(t *testing.T) *docEnv {
	t.Helper()
	testutil.RequireRoot(t)
	e := newEnv(t)
	e.m.SetPolicy(docPolicy(t))
	dir, err := os.MkdirTemp("", "orbistest-nmdoc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	d := &docEnv{testEnv: e, hostSock: filepath.Join(dir, "host", "nm.sock"), sliverSock: filepath.Join(dir, "share", "nm.sock")}
	host, err := Listen(d.hostSock)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := ListenShared(d.sliverSock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- e.m.Serve(ctx, host) }()
	go func() { done <- e.m.Serve(ctx, shared) }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return d
}

// uidOf is the host UID of user 1000 in slice's sliver.
func (d *docEnv) uidOf(slice string) uint32 {
	d.t.Helper()
	d.m.mu.Lock()
	defer d.m.mu.Unlock()
	s := d.m.slivers[slice]
	if s == nil {
		d.t.Fatalf("no sliver %s", slice)
	}
	return s.UIDBase + 1000
}

// caller maps a socket path of the document to the test's socket and the
// UID that calls on it: host root, or the broker pl_broker.
func (d *docEnv) caller(docSocket string) (string, uint32) {
	d.t.Helper()
	switch docSocket {
	case api.NMSocket:
		return d.hostSock, 0
	case api.NMSliverSocket:
		return d.sliverSock, d.uidOf("pl_broker")
	}
	d.t.Fatalf("the walk-through calls on %s", docSocket)
	return "", 0
}

// call posts body to op on sock as uid, from a process of its own, and
// returns the status and answer.
func (d *docEnv) call(sock string, uid uint32, op, body string) (int, string) {
	d.t.Helper()
	cmd := reexec.Command(docCallName, sock, op)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	cmd.Stdin = strings.NewReader(body + "\n") // as the heredoc gives it to curl
	out, err := cmd.Output()
	status, answer, _ := strings.Cut(string(out), "\n")
	n, cerr := strconv.Atoi(status)
	if err != nil || cerr != nil {
		d.t.Fatalf("nm %s as uid %d: %v: %s", op, uid, err, out)
	}
	return n, answer
}

// TestDocWalkthrough replays the walk-through of docs/nodemanager.md, as
// host root and as a process of the broker's sliver, against a node
// manager over its sockets: every answer must be the document's, but for
// the rcaps and IDs, which are random. Then it builds the document's Go
// broker and runs it in the broker pl_broker (which has a pool) and in
// pl_sharp (which acquires within its policy share).
func TestDocWalkthrough(t *testing.T) {
	d := newDocEnv(t)
	m := &docMatcher{real: map[string]string{}}
	var pending *docCall
	var socket string
	replayed := 0
	for _, b := range readDoc(t) {
		at := fmt.Sprintf("%s:%d", docPath, b.line)
		switch {
		case b.lang() == "sh":
			var calls []docCall
			socket, calls = callsOf(t, b, socket)
			if len(calls) > 1 {
				t.Fatalf("%s: %d calls in one block (want one, then its answer)", at, len(calls))
			}
			if len(calls) == 1 {
				if pending != nil {
					t.Fatalf("%s: the call at line %d has no answer block", at, pending.line)
				}
				pending = &calls[0]
			}
		case b.lang() == "json" && pending != nil:
			want := http200
			if len(b.words) == 3 {
				want, _ = strconv.Atoi(b.words[2])
			}
			body := m.subst(pending.body)
			if left := rcapLikeRE.FindString(body); left != "" && !isReal(m, left) {
				t.Fatalf("%s: rcap %s is used before an answer gives it", at, left)
			}
			sock, uid := d.caller(pending.socket)
			status, answer := d.call(sock, uid, pending.op, body)
			if status != want {
				t.Fatalf("%s: nm %s answered %d %s, the document says %d", at, pending.op, status, answer, want)
			}
			if err := checkJSON(b.words[1], answer); err != nil {
				t.Fatalf("%s: nm %s: the answer %v", at, pending.op, err)
			}
			if err := m.match("answer", generic(b.body), generic(answer)); err != nil {
				t.Fatalf("%s: nm %s: %v", at, pending.op, err)
			}
			pending = nil
			replayed++
		}
	}
	if pending != nil || replayed < 8 {
		t.Fatalf("replayed %d calls; pending %+v", replayed, pending)
	}
	if _, ok := d.rt.Sliver("pl_customer"); ok {
		t.Fatal("pl_customer's sliver outlived the release of its rcap")
	}
	d.runProgram()
}

const http200 = 200

func isReal(m *docMatcher, s string) bool {
	for _, r := range m.real {
		if r == s {
			return true
		}
	}
	return false
}

// runProgram builds the document's Go broker and runs it as pl_broker,
// then as pl_sharp, a node manager slice without a delegation.
func (d *docEnv) runProgram() {
	t := d.t
	bin := buildDocProgram(t)
	d.bind("pl_sharp", d.acquire(api.Rspec{Privileges: api.Privileges{CreateSliver: true, NodeManager: true}, BindSlices: []string{"pl_customer"}}))
	for _, broker := range []string{"pl_broker", "pl_sharp"} {
		before := len(d.rt.Calls())
		cmd := exec.Command(bin, "-socket", d.sliverSock, "-slice", "pl_customer", "-end", "1800003600", "-key", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7u alice@example.org")
		uid := d.uidOf(broker)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("minibroker in %s: %v\n%s", broker, err, out)
		}
		if !strings.Contains(string(out), "sliver pl_customer runs on rcap") || !strings.Contains(string(out), ": 50 thousandths") {
			t.Errorf("minibroker in %s said %q", broker, out)
		}
		var made, destroyed bool
		for _, c := range d.rt.Calls()[before:] {
			made = made || c == "start pl_customer"
			destroyed = destroyed || made && c == "destroy pl_customer"
		}
		if !made || !destroyed {
			t.Errorf("minibroker in %s: runtime calls %q: want pl_customer started, then destroyed", broker, d.rt.Calls()[before:])
		}
		mine, err := d.m.Rcaps(d.as(broker))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range mine.Rcaps {
			if !r.Pool {
				t.Errorf("minibroker in %s left rcap %s %+v", broker, r.ID, r.Rspec)
			}
		}
	}
	if _, ok := d.rt.Sliver("pl_customer"); ok {
		t.Error("pl_customer's sliver outlived the minibroker")
	}
}

// buildDocProgram compiles the document's Go program, as if it were
// testdata/docbroker/main.go of this module (a go build overlay).
func buildDocProgram(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "orbistest-nmdoc-bin-") // the broker's UID runs the program
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(docProgram(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg, err := filepath.Abs(filepath.Join("testdata", "docbroker"))
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(pkg, "main.go"): src}})
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "minibroker")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-overlay", ov, "-o", bin, "./testdata/docbroker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the document's Go program: %v\n%s", err, out)
	}
	return bin
}
