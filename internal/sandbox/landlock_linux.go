package sandbox

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Slivers share the node's network namespace, and with it the abstract
// Unix socket namespace: without a scope, any sliver could connect to
// another's (or the node's) abstract sockets, squat their names first, or
// pass fds and data through them. The init scopes itself and so every
// process of the sliver with Landlock's LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
// (ABI 6, Linux 6.12): the sliver's processes reach each other's abstract
// sockets, and neither the node's nor another sliver's (each sliver is in
// a domain of its own, so this holds both ways between slivers). The scope
// covers connect and send, not bind, and not the names that the node's
// /proc/net/unix lists: a sliver can still take a name first (another
// sliver's bind of it then fails) and see which names are bound, but no
// other sliver can connect to it; the node's own processes are in no
// domain and could. Older kernels have no such scope, and seccomp cannot
// read a socket address, so there abstract sockets stay shared by the
// node's slivers; Start warns of it.
//
// LANDLOCK_SCOPE_SIGNAL is not set: a sliver has its own PID namespace, so
// it can name no process outside it to signal.

// abstractScopeABI is the first Landlock ABI with
// LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET.
const abstractScopeABI = 6

// landlockRuleset is struct landlock_ruleset_attr up to ABI 6 (scoped).
// unix.LandlockRulesetAttr has later fields too, which older kernels
// would refuse only if non-zero; this layout says what the init asks.
type landlockRuleset struct {
	handledAccessFS  uint64
	handledAccessNet uint64
	scoped           uint64
}

var (
	landlockOnce sync.Once
	landlockVer  int
)

// landlockABI returns the kernel's Landlock ABI version, 0 without
// Landlock (not built, or not in the LSM list).
func landlockABI() int {
	landlockOnce.Do(func() {
		r, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
		if errno == 0 {
			landlockVer = int(r)
		}
	})
	return landlockVer
}

// AbstractSocketsScoped reports whether this kernel lets each sliver have
// its own abstract Unix sockets; if not, the node's slivers share them.
func AbstractSocketsScoped() bool { return landlockABI() >= abstractScopeABI }

// scopeAbstractSockets puts the calling thread, and every process it
// starts from now on, in a new Landlock domain that scopes abstract Unix
// sockets. It needs no_new_privs. It does nothing on a kernel without the
// scope.
func scopeAbstractSockets() error {
	if !AbstractSocketsScoped() {
		return nil
	}
	attr := landlockRuleset{scoped: unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET}
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET,
		uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr), 0)
	if errno != 0 {
		return fmt.Errorf("landlock: create ruleset: %w", errno)
	}
	defer unix.Close(int(fd))
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); errno != 0 {
		return fmt.Errorf("landlock: restrict self: %w", errno)
	}
	return nil
}
