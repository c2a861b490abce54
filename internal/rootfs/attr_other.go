//go:build !linux

package rootfs

import "syscall"

// isolatedAttr runs a builder command in a process group of its own.
func isolatedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
