package rawsock

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// onThread runs fn on a locked OS thread that has joined the network
// namespace nsfd (when >= 0) and, when uid is not 0, has taken uid as its
// filesystem UID, so that the sockets fn makes live in that namespace and
// belong to that UID (a socket's owner, which nftables' `meta skuid` and
// the traffic tagging see, is the creator's fsuid). Only this one thread
// changes, and only its namespace and fsuid; a thread that cannot be put
// back is left to die with its goroutine.
func onThread(nsfd int, uid uint32, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		clean, err := enterThread(nsfd, uid, fn)
		if clean {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// enterThread does onThread's work on the locked thread and reports
// whether the thread is back as it was.
func enterThread(nsfd int, uid uint32, fn func() error) (clean bool, err error) {
	if nsfd >= 0 {
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return true, fmt.Errorf("open thread's netns: %w", err)
		}
		defer unix.Close(orig)
		if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
			return true, fmt.Errorf("setns: %w", err)
		}
		defer func() {
			if unix.Setns(orig, unix.CLONE_NEWNET) != nil {
				clean = false
			}
		}()
	}
	if uid != 0 {
		unix.Setfsuid(int(uid))
		defer func() {
			if prev, _ := unix.SetfsuidRetUid(0); prev != int(uid) {
				clean = false
			}
		}()
	}
	return true, fn()
}
