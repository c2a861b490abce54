// Package reexec runs hidden entry points of the orbis binary: a parent
// starts /proc/self/exe with argv[0] set to a registered name, and main calls
// Init first thing, before any other work, so the child runs that entry point
// instead of the command line. This is how Orbis enters new namespaces
// without calling setns or unshare from a multi-threaded Go process, whose
// other threads would stay outside them (as runc's init.go does).
package reexec

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
)

var (
	// mu guards the following.
	mu      sync.Mutex
	entries = map[string]func(){}
)

// Register names an entry point. It panics on a duplicate name, which is a
// programming error. Call it from an init function.
func Register(name string, fn func()) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := entries[name]; dup {
		panic(fmt.Sprintf("reexec: %q registered twice", name))
	}
	entries[name] = fn
}

// Init runs the entry point named by os.Args[0], if there is one, and
// reports whether it did. The entry point is expected to exit the process
// itself; if it returns, Init returns true and main should exit.
func Init() bool {
	mu.Lock()
	fn, ok := entries[os.Args[0]]
	mu.Unlock()
	if !ok {
		return false
	}
	fn()
	return true
}

// Command returns a command that runs the entry point name of this very
// binary with the given arguments.
func Command(name string, args ...string) *exec.Cmd {
	return &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{name}, args...),
	}
}
