package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// RunAs starts cmd (a reexec child, say) as uid (and GID uid) and returns
// the first line it prints, trimmed. The child is expected to hold what
// it opened until its standard input ends: release closes it and waits
// for the child, once, and also runs when the test ends.
func RunAs(t testing.TB, uid uint32, cmd *exec.Cmd) (line string, release func()) {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { stdin.Close(); cmd.Wait() }) }
	t.Cleanup(release)
	line, err = bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("%v as uid %d: %q, %v", cmd.Args, uid, line, err)
	}
	return strings.TrimSpace(line), release
}
