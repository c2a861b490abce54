package admin

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAdminSliceHostProcesses performs issue 18's attack on the host: an
// admin slice stops a host process (as it stopped another node's agent),
// kills a host root process and reads host command lines. Each is
// refused: the process runs on, unstopped, and ps shows the admin slice
// no host process; root still sees and signals it.
func TestAdminSliceHostProcesses(t *testing.T) {
	e := newEnv(t)
	host := exec.Command("/bin/sh", "-c", "exec sleep 1000 # orbistest-secret-token")
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { host.Process.Kill(); host.Wait() })
	pid := strconv.Itoa(host.Process.Pid)
	for _, sig := range []string{"STOP", "KILL"} {
		if out, err := e.run(adminBase, "kill", pid, sig); err == nil || !strings.Contains(out, "not a sliver's process") {
			t.Errorf("admin slice kill -%s of a host process: %v, %q", sig, err, out)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if st := procState(t, host.Process.Pid); st != "S" {
		t.Fatalf("the host process is in state %q after the admin slice's signals, want S", st)
	}
	out, err := e.run(adminBase, "ps")
	if err != nil {
		t.Fatal(err)
	}
	if findRow(out, host.Process.Pid) != nil || strings.Contains(out, "orbistest-secret-token") {
		t.Errorf("the admin slice's ps shows a host process:\n%s", out)
	}
	if out, err := e.run(0, "ps"); err != nil || findRow(out, host.Process.Pid) == nil {
		t.Errorf("root's ps lacks the host process: %v\n%s", err, out)
	}
}

// procState is the state letter of pid.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return f[0]
}

// TestActionsKeptUnderFlood performs issue 18's log flush: an admin slice
// kills a process, then sends thousands of harmless CONT signals to push
// that kill out of the action log. Past MaxActionsPerMinute the signals are
// refused (429), and the kill stays in the log; rotated generations are
// all read back, and only those past the retention go.
func TestActionsKeptUnderFlood(t *testing.T) {
	e := newEnv(t)
	e.svc.actions.max = 2048 // rotate often
	doomed := startAs(t, victimBase+9, "exec sleep 1000")
	victim := startAs(t, victimBase+10, "exec sleep 1000")
	if out, err := e.run(adminBase, "kill", strconv.Itoa(doomed.Process.Pid), "KILL"); err != nil {
		t.Fatalf("the real kill: %v\n%s", err, out)
	}
	refused := 0
	for range 60 {
		out, err := e.run(adminBase, "kill", strconv.Itoa(victim.Process.Pid), "CONT")
		if err != nil && strings.Contains(out, "kills and cap changes in the last minute") {
			refused++
		}
	}
	if refused < 60-DefaultMaxActionsPerMinute {
		t.Errorf("%d of 60 CONT kills refused, want at least %d", refused, 60-DefaultMaxActionsPerMinute)
	}
	acts, err := ReadActions(e.state)
	if err != nil {
		t.Fatal(err)
	}
	kept, sent := false, 0
	for _, a := range acts {
		if a.Op == "kill" && a.Result == "ok" {
			sent++
			kept = kept || strings.Contains(a.Note, "pid "+strconv.Itoa(doomed.Process.Pid)+" ")
		}
	}
	if !kept || sent > DefaultMaxActionsPerMinute+1 {
		t.Fatalf("after the flood: the real kill kept %v, %d kills logged (want it, and at most %d)", kept, sent, DefaultMaxActionsPerMinute+1)
	}
	// Generations go only once past the retention.
	gens := func() []string {
		g, _ := os.ReadDir(e.state + "/admin")
		var out []string
		for _, f := range g {
			if strings.HasPrefix(f.Name(), "actions.log.2") {
				out = append(out, f.Name())
			}
		}
		return out
	}
	if len(gens()) == 0 {
		t.Fatal("the flood rotated no generation: the test proves nothing")
	}
	old := time.Now().Add(-e.svc.cfg.ActionsRetention - time.Hour)
	for _, g := range gens() {
		os.Chtimes(e.state+"/admin/"+g, old, old)
	}
	e.svc.actions.prune(time.Now())
	if g := gens(); len(g) != 0 {
		t.Errorf("generations past the retention kept: %v", g)
	}
}
