package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// sealedExe returns a path through which this process can execute a sealed,
// in-memory copy of its own binary. A sliver's init runs from that copy, so
// /proc/1/exe inside the sliver names a memfd that nobody can write, never
// the host's binary (runc CVE-2019-5736). The copy is made once per process.
var sealedExe = sync.OnceValues(func() (string, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("sealed binary: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("orbis-sandbox", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // kernels before 6.3 know no MFD_EXEC
		fd, err = unix.MemfdCreate("orbis-sandbox", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return "", fmt.Errorf("sealed binary: memfd_create: %w", err)
	}
	// dst owns fd: closing fd behind its back would let dst's finalizer
	// close the number again later, when it may name another file.
	dst := os.NewFile(uintptr(fd), "orbis-sandbox")
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		return "", fmt.Errorf("sealed binary: copy: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return "", fmt.Errorf("sealed binary: seal: %w", err)
	}
	// A high number, so that os/exec's shuffling of a child's fds (which
	// reuses the numbers just above the ones it passes) never lands on it
	// before the child executes it.
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return "", fmt.Errorf("sealed binary: dup: %w", err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", high), nil
})
