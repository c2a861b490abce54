package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// InitProgramName is the file name of the init program
// (internal/sandbox/cmd/orbis-init) that `make build` puts beside orbis.
const InitProgramName = "orbis-init"

// IdleProgramName is the file name of the idle program
// (internal/sandbox/cmd/orbis-idle, idle_linux.go) that `make build` puts
// beside orbis. Without it, a sliver's init stays a Go program while its
// commands run, which costs most of a megabyte more per running sliver.
const IdleProgramName = "orbis-idle"

// maxInitProgram bounds the init and idle programs.
const maxInitProgram = 64 << 20

// initSeals are the seals of the memfd an init runs from: its content
// can never change, nor its seals.
const initSeals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE

// initMode is the mode of the memfds that inits run from: executable, and
// readable by nobody without CAP_DAC_OVERRIDE over host root's files. A
// process that executes a file it cannot read is undumpable from that
// execve on, and its mm belongs to the node's user namespace (the kernel's
// would_dump): the sliver's root cannot ptrace its init, whichever
// program it runs, nor read its /proc files.
const initMode = 0o111

// initHintFile notes a running init whose sealed memfd later inits may
// share. It is only a hint: what it leads to is used only if it is a
// sealed memfd holding exactly the init program, so a stale or forged
// hint costs a copy, never safety. Any Orbis process of the machine may
// share it, as they run the same program.
var initHintFile = "/run/orbis-sandbox/init"

// besideExe returns the path of the program name beside this binary, or
// "" when it is not there.
func besideExe(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), name)
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return ""
	}
	return p
}

// initProgram returns the path of the init program: orbis-init beside
// this binary, or "" when it is not there (then an init runs a sealed
// copy of this very binary, which costs its size per process).
var initProgram = sync.OnceValue(func() string { return besideExe(InitProgramName) })

// idleProgram returns the path of the idle program, orbis-idle beside this
// binary, or "" when it is not there.
var idleProgram = sync.OnceValue(func() string { return besideExe(IdleProgramName) })

// initExe is what this process starts inits from.
var initExe struct {
	// mu guards the following.
	mu    sync.Mutex
	path  string // "/proc/self/fd/N" of init, or "" until made
	small bool   // it holds the init program, not this binary
	// init and idle are the sealed memfds of the init and idle programs
	// that every init gets (initProgFD, idleProgFD); idle is nil without
	// an idle program (or init program).
	init, idle *os.File
}

// sealedInit returns a path through which this process can execute the
// sealed, in-memory init, the files each init gets as its initProgFD
// and idleProgFD, and whether it is the init program (which inits of other
// processes share, through the hint) rather than a copy of this binary. A
// sliver's init runs from it, so /proc/1/exe inside the sliver names a
// memfd that nobody can write, never a host file (runc CVE-2019-5736).
func sealedInit() (exe string, progs []*os.File, small bool, err error) {
	initExe.mu.Lock()
	defer initExe.mu.Unlock()
	if initExe.path != "" {
		return initExe.path, []*os.File{initExe.init, initExe.idle}, initExe.small, nil
	}
	fd, small, err := openInitBinary(initProgFD, initProgram(), InitProgramName)
	if err != nil {
		return "", nil, false, err
	}
	high, err := highFD(fd)
	if err != nil {
		return "", nil, false, err
	}
	var idle *os.File
	if small && idleProgram() != "" {
		fd, _, err := openInitBinary(idleProgFD, idleProgram(), IdleProgramName)
		if err != nil {
			high.Close()
			return "", nil, false, err
		}
		if idle, err = highFD(fd); err != nil {
			high.Close()
			return "", nil, false, err
		}
	}
	initExe.path, initExe.small = fmt.Sprintf("/proc/self/fd/%d", high.Fd()), small
	initExe.init, initExe.idle = high, idle
	return initExe.path, []*os.File{high, idle}, small, nil
}

// highFD moves fd to a high number, so that os/exec's shuffling of a
// child's fds (which reuses the numbers just above the ones it passes)
// never lands on it before the child executes it.
func highFD(fd int) (*os.File, error) {
	defer unix.Close(fd)
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return nil, fmt.Errorf("sealed init: dup: %w", err)
	}
	return os.NewFile(uintptr(high), "sealed-init"), nil
}

// openInitBinary returns an fd of a sealed memfd of the program prog (named
// name), shared with the node's running inits when the hint leads to one
// that holds it as its fd held, or else of a new sealed copy of prog (or of
// this binary, without prog).
func openInitBinary(held int, prog, name string) (fd int, small bool, err error) {
	if prog == "" {
		fd, err := sealedCopy("/proc/self/exe")
		return fd, false, err
	}
	f, err := os.Open(prog)
	if err != nil {
		return -1, false, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	want, unmap, err := mapProgram(f)
	if err != nil {
		return -1, false, err
	}
	defer unmap()
	if fd, ok := hintedInit(initHintFile, held, want); ok {
		return fd, true, nil
	}
	fd, err = sealedMemfd(f, name)
	return fd, true, err
}

// mapProgram maps the init program read-only: comparing it costs no copy.
func mapProgram(f *os.File) (b []byte, unmap func(), err error) {
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("init program: %w", err)
	}
	if st.Size() == 0 || st.Size() > maxInitProgram {
		return nil, nil, fmt.Errorf("init program %s: %d bytes (want 1 to %d)", f.Name(), st.Size(), maxInitProgram)
	}
	b, err = unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("init program %s: mmap: %w", f.Name(), err)
	}
	return b, func() { unix.Munmap(b) }, nil
}

// sealedCopy returns an fd of a new sealed memfd holding the file at path.
func sealedCopy(path string) (int, error) {
	src, err := os.Open(path)
	if err != nil {
		return -1, fmt.Errorf("sealed init: %w", err)
	}
	defer src.Close()
	return sealedMemfd(src, InitProgramName)
}

// sealedMemfd returns an fd of a new memfd named name holding what r
// reads, sealed, and executable but readable by nobody but host root
// (initMode). From an *os.File the kernel copies it (sendfile), not this
// process.
func sealedMemfd(r io.Reader, name string) (int, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) { // kernels before 6.3 know no MFD_EXEC
		fd, err = unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, fmt.Errorf("sealed init: memfd_create: %w", err)
	}
	// dst owns a dup: closing fd behind an *os.File's back would let its
	// finalizer close the number again later, when it may name another file.
	dst := os.NewFile(uintptr(fd), name)
	defer dst.Close()
	if err := unix.Fchmod(fd, initMode); err != nil {
		return -1, fmt.Errorf("sealed init: chmod: %w", err)
	}
	if _, err := io.Copy(dst, r); err != nil {
		return -1, fmt.Errorf("sealed init: copy: %w", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, initSeals); err != nil {
		return -1, fmt.Errorf("sealed init: seal: %w", err)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("sealed init: dup: %w", err)
	}
	return dup, nil
}

// hintedInit opens the file that the init the hint names holds as its fd
// held (initProgFD or idleProgFD), and returns it if it is a sealed memfd
// holding exactly want. The init is the sliver's, so its file is checked,
// not trusted: the seals first (only a memfd has them, so reading it
// cannot block), then every byte.
func hintedInit(hint string, held int, want []byte) (int, bool) {
	if !hostOnly(filepath.Dir(hint)) {
		return -1, false
	}
	b, err := os.ReadFile(hint)
	if err != nil {
		return -1, false
	}
	var rec initRecord
	if _, err := fmt.Sscanf(string(b), "%d %d %d", &rec.Pid, &rec.StartTime, &rec.UserNS); err != nil || rec.Pid <= 1 {
		return -1, false
	}
	if got, err := readRecord(rec.Pid); err != nil || got != rec {
		return -1, false
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/fd/%d", rec.Pid, held), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, false
	}
	if sameSealed(fd, want) {
		return fd, true
	}
	unix.Close(fd)
	return -1, false
}

// sameSealed reports whether fd is a memfd with initSeals and initMode
// holding want.
func sameSealed(fd int, want []byte) bool {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil || seals&initSeals != initSeals {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o7777 != initMode || st.Size != int64(len(want)) {
		return false
	}
	got, err := unix.Mmap(fd, 0, len(want), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return false
	}
	defer unix.Munmap(got)
	return equalMapped(got, want)
}

// equalMapped compares two mappings of files, either of which may shrink
// under it (the program's file, if someone truncates it): a fault is a
// difference, not a crash.
func equalMapped(a, b []byte) (equal bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			equal = false
		}
	}()
	return bytes.Equal(a, b)
}

// noteInit makes the hint name rec, a running init of the init program.
func noteInit(hint string, rec initRecord) error {
	dir := filepath.Dir(hint)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("init hint: %w", err)
	}
	if !hostOnly(dir) {
		return fmt.Errorf("init hint: %s is not root's alone", dir)
	}
	// The hint is under /run: it need not outlive a crash.
	if err := atomicfile.WriteFileNoSync(hint, []byte(rec.String()), 0o600); err != nil {
		return fmt.Errorf("init hint: %w", err)
	}
	return nil
}

// hostOnly reports whether dir is a real directory of root's that nobody
// else can write.
func hostOnly(dir string) bool {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Uid == 0 && st.Mode&0o022 == 0
}
