package rootfs

import "syscall"

// isolatedAttr runs a builder command in a process group (so cancelling
// kills its children too) and a mount namespace of its own, whose mounts
// vanish when it exits (Go makes / private in it).
func isolatedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
}
