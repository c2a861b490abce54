package reexec

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const (
	echoEntry   = "orbis-test-reexec-echo"
	returnEntry = "orbis-test-reexec-return"
	failEntry   = "orbis-test-reexec-fail"
)

func init() {
	Register(echoEntry, func() {
		fmt.Printf("args=%q env=%s\n", os.Args[1:], os.Getenv("REEXEC_TEST"))
		os.Exit(0)
	})
	Register(returnEntry, func() { fmt.Println("returned") })
	Register(failEntry, func() { os.Exit(7) })
}

func TestMain(m *testing.M) {
	if Init() {
		return // an entry point that returns: the process ends here, no test runs
	}
	os.Exit(m.Run())
}

// TestCommandRunsEntry: the child runs the named entry point, with the
// arguments and environment given, instead of the tests.
func TestCommandRunsEntry(t *testing.T) {
	cmd := Command(echoEntry, "a b", "-test.run=X")
	cmd.Env = append(os.Environ(), "REEXEC_TEST=yes")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run %s: %v", echoEntry, err)
	}
	if want := `args=["a b" "-test.run=X"] env=yes` + "\n"; string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}
}

// TestEntryThatReturns: Init reports that it ran an entry point even if
// the entry point returns, so main exits instead of going on.
func TestEntryThatReturns(t *testing.T) {
	out, err := Command(returnEntry).CombinedOutput()
	if err != nil {
		t.Fatalf("run %s: %v\n%s", returnEntry, err, out)
	}
	if string(out) != "returned\n" {
		t.Errorf("output %q: the child went on to run the tests", out)
	}
}

func TestEntryExitCode(t *testing.T) {
	err := Command(failEntry).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Errorf("exit = %v, want status 7", err)
	}
}

// TestInitWithoutEntry: in a process not started through Command, Init
// runs nothing.
func TestInitWithoutEntry(t *testing.T) {
	if Init() {
		t.Fatal("Init ran an entry point for the test binary's own name")
	}
}

func TestCommand(t *testing.T) {
	cmd := Command("x", "1", "2")
	if cmd.Path != "/proc/self/exe" || strings.Join(cmd.Args, " ") != "x 1 2" {
		t.Errorf("Command = %s %q, want /proc/self/exe with argv x 1 2", cmd.Path, cmd.Args)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	Register(echoEntry, func() {})
}
