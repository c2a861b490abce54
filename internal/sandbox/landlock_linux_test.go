package sandbox

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestScopeAbstractSockets scopes one thread of the test, as the init
// scopes itself, and checks what it can reach: an abstract socket bound
// outside its domain (the node's, or another sliver's) no more, one bound
// inside it still.
func TestScopeAbstractSockets(t *testing.T) {
	if !AbstractSocketsScoped() {
		t.Skip("this kernel has no Landlock abstract Unix socket scope (Linux 6.12)")
	}
	outside, err := net.Listen("unix", fmt.Sprintf("@orbistest-outside-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	errs := make(chan error, 1)
	go func() {
		// The thread is never unlocked: it ends with the goroutine,
		// taking its domain with it.
		runtime.LockOSThread()
		errs <- scopedDials(outside.Addr().String())
	}()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// scopedDials scopes the calling thread, then dials outside (which must
// fail) and a socket it binds itself (which must work).
func scopedDials(outside string) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("no_new_privs: %w", err)
	}
	if err := scopeAbstractSockets(); err != nil {
		return err
	}
	if c, err := net.Dial("unix", outside); !errors.Is(err, unix.EPERM) {
		if c != nil {
			c.Close()
		}
		return fmt.Errorf("dial %s from the scoped thread: %v, want EPERM", outside, err)
	}
	inside, err := net.Listen("unix", fmt.Sprintf("@orbistest-inside-%d", os.Getpid()))
	if err != nil {
		return err
	}
	defer inside.Close()
	c, err := net.Dial("unix", inside.Addr().String())
	if err != nil {
		return fmt.Errorf("dial a socket of the same domain: %w", err)
	}
	return c.Close()
}
