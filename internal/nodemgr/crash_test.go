package nodemgr

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/reexec"
)

const crashChildName = "orbistest-nodemgr-crash"

func init() { reexec.Register(crashChildName, crashChild) }

func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild runs one operation on a Manager and blocks forever at the
// runtime step named by its arguments (or after the operation), having
// said so on stdout, for its parent to SIGKILL it there.
// Arguments: state dir, runtime dir, op (bind, release, split, amend), rcap,
// step.
func crashChild() {
	stateDir, rtDir, op, rc, step := os.Args[1], os.Args[2], os.Args[3], api.Rcap(os.Args[4]), os.Args[5]
	rt, err := NewFakeRuntime(rtDir)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	rt.SetHook(func(s, name string) {
		if s == step {
			fmt.Println("reached", s)
			select {}
		}
	})
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	m, err := Open(ctx, Options{StateDir: stateDir, Runtime: rt, Node: testNode, Clock: NewFakeClock(t0), Log: log})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	switch op {
	case "bind":
		err = m.Bind(ctx, "orbistest_crash", rc, api.BindAttrs{})
	case "release":
		err = m.Release(ctx, rc)
	case "split":
		_, err = m.Split(ctx, rc, api.Rspec{CPUGuarantee: 30})
	case "amend":
		err = m.Amend(ctx, rc, api.Rspec{CPUGuarantee: 50, NetMaxRate: 1000, Privileges: sliverRights})
	}
	fmt.Println("done", err)
	select {}
}

// TestCrashRecovery kills a node manager with SIGKILL at every runtime
// step of bind, release, split and amend (and just after each finished), reopens
// its state and checks that nothing is half-done: a bind that did not
// answer is rolled back, a release or split is finished or undone, a
// running sliver is left alone, and the records agree with the runtime.
func TestCrashRecovery(t *testing.T) {
	tests := []struct {
		op    string
		steps []string
	}{
		{"bind", []string{"create:before", "create:after", "start:before", "start:after", "done"}},
		{"release", []string{"stop:before", "stop:after", "destroy:before", "destroy:after", "done"}},
		{"split", []string{"update:before", "update:after", "done"}},
		{"amend", []string{"update:before", "update:after", "done"}},
	}
	for _, tc := range tests {
		for _, step := range tc.steps {
			t.Run(tc.op+"/"+step, func(t *testing.T) { crashAt(t, tc.op, step) })
		}
	}
}

func crashAt(t *testing.T, op, step string) {
	stateDir, rtDir := t.TempDir(), t.TempDir()
	rt, err := NewFakeRuntime(rtDir)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, rt: rt, clock: NewFakeClock(t0), stateDir: stateDir}
	e.open()
	rc := e.acquire(api.Rspec{CPUGuarantee: 100, Privileges: sliverRights})
	if op != "bind" {
		e.bind("orbistest_crash", rc)
	}
	e.m.Close()

	cmd := reexec.Command(crashChildName, stateDir, rtDir, op, string(rc), step)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	want := "reached " + step
	if step == "done" {
		want = "done <nil>"
	}
	if strings.TrimSpace(line) != want {
		t.Fatalf("child said %q, want %q", line, want)
	}

	rt, err = NewFakeRuntime(rtDir)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	e.open()
	checkConsistent(t, e)
	s, running := rt.Sliver("orbistest_crash")
	_, qerr := e.m.Query(context.Background(), rc)
	switch {
	case op == "bind" && step != "done", op == "release" && step != "done":
		// A bind that did not answer is rolled back; a release whose
		// record change was made is finished.
		if running {
			t.Fatalf("sliver left after the interrupted %s: %+v", op, s)
		}
	case op == "split":
		// The split is undone (or complete): the sliver runs with
		// its rcap's current guarantee either way.
		q, _ := e.m.Query(context.Background(), rc)
		if !running || s.Spec.Rspec.CPUGuarantee != q.Rspec.CPUGuarantee {
			t.Fatalf("after split crash: sliver %+v, rcap %+v", s, q.Rspec)
		}
		if wantCPU := map[bool]int64{true: 70, false: 100}[step == "done"]; q.Rspec.CPUGuarantee != wantCPU {
			t.Fatalf("parent cpu_guarantee %d after crash at %s, want %d", q.Rspec.CPUGuarantee, step, wantCPU)
		}
	case op == "amend":
		// The new rspec was written before the runtime was called: the
		// sliver runs with it after a restart, whatever the step.
		q, _ := e.m.Query(context.Background(), rc)
		if !running || s.Spec.Rspec.NetMaxRate != 1000 || q.Rspec.NetMaxRate != 1000 || q.Rspec.CPUGuarantee != 50 {
			t.Fatalf("after amend crash at %s: sliver %+v, rcap %+v", step, s, q.Rspec)
		}
		checkLedger(t, e)
	case op == "bind" && step == "done":
		if !running || s.State != "running" {
			t.Fatalf("bound sliver not running after restart: %+v", s)
		}
		for _, c := range rt.Calls() {
			if !strings.HasPrefix(c, "status ") && !strings.HasPrefix(c, "list ") {
				t.Fatalf("restart touched a running sliver: %v", rt.Calls())
			}
		}
	}
	if op == "release" && qerr == nil {
		t.Fatal("rcap live after a release that removed it")
	}
	if op == "bind" && qerr != nil {
		t.Fatalf("rcap lost in an interrupted bind: %v", qerr)
	}
	// The node is usable: the slice can be bound (again).
	if op != "release" {
		if err := e.m.Bind(context.Background(), "orbistest_crash", rc, api.BindAttrs{}); err != nil {
			t.Fatalf("bind after recovery: %v", err)
		}
		if s, _ := rt.Sliver("orbistest_crash"); s.Spec.UIDBase != 100000 || s.State != "running" {
			t.Fatalf("sliver after rebind: %+v", s)
		}
	}
}

// checkConsistent checks that records and runtime agree once Open has
// reconciled: every sliver is ready and exists in the runtime, and every
// runtime sliver has a record.
func checkConsistent(t *testing.T, e *testEnv) {
	t.Helper()
	l, err := e.m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names, _ := e.rt.List(context.Background())
	if len(names) != len(l.Slivers) {
		t.Fatalf("runtime has %v, records have %+v", names, l.Slivers)
	}
	for _, s := range l.Slivers {
		if s.State != "running" && s.State != "created" && s.State != "stopped" {
			t.Fatalf("sliver %s is %s after recovery", s.Name, s.State)
		}
	}
	ents, _ := os.ReadDir(e.stateDir + "/" + kindSplit)
	if len(ents) != 0 {
		t.Fatalf("split intents left: %v", ents)
	}
}
