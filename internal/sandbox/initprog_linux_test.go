package sandbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/testutil"
)

// startSleeper starts a long sleep in the sliver and returns its init's pid.
func startSleeper(t *testing.T, cfg Config) int {
	t.Helper()
	_, pid := startIn(t, cfg, Cmd{Args: []string{"sleep", "60"}})
	return pid
}

// startIn starts cmd in the sliver, to be killed when the test ends, and
// returns it and its init's pid.
func startIn(t *testing.T, cfg Config, cmd Cmd) (*Process, int) {
	t.Helper()
	p, err := Start(testutil.Context(t), cfg, cmd, testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Signal(syscall.SIGKILL); p.Wait() })
	pid, ok := InitPid(cfg)
	if !ok {
		t.Fatal("no init after Start")
	}
	return p, pid
}

// inode returns the inode of a /proc file of pid: "exe", or "fd/N".
func inode(t *testing.T, pid int, file string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/%s", pid, file), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// requireSealedProgram fails unless pid holds sealed memfds of the init
// and idle programs and runs from one of them.
func requireSealedProgram(t *testing.T, pid int) {
	t.Helper()
	for fd, prog := range map[int]string{initProgFD: initProgram(), idleProgFD: idleProgram()} {
		want, err := os.ReadFile(prog)
		if err != nil {
			t.Fatal(err)
		}
		f, err := unix.Open(fmt.Sprintf("/proc/%d/fd/%d", pid, fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(f)
		if !sameSealed(f, want) {
			link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd))
			t.Fatalf("init %d holds %s as fd %d: not a sealed memfd of %s", pid, link, fd, prog)
		}
	}
	if exe := inode(t, pid, "exe"); exe != inode(t, pid, fmt.Sprintf("fd/%d", initProgFD)) && exe != inode(t, pid, fmt.Sprintf("fd/%d", idleProgFD)) {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		t.Fatalf("init %d runs %s, neither of its sealed programs", pid, link)
	}
}

// TestInitShared checks that the inits of two slivers, started by two
// processes (this one, forgetting its init in between), run from one
// sealed memfd of the small init program: a running sliver pins no copy
// of its own.
func TestInitShared(t *testing.T) {
	a := testSliver(t, "orbistest-sharea", 500000)
	b := testSliver(t, "orbistest-shareb", 600000)
	forgetInit(t)
	ia := startSleeper(t, a)
	forgetInit(t)
	ib := startSleeper(t, b)
	requireSealedProgram(t, ia)
	requireSealedProgram(t, ib)
	for _, fd := range []int{initProgFD, idleProgFD} {
		file := fmt.Sprintf("fd/%d", fd)
		if inode(t, ia, file) != inode(t, ib, file) {
			t.Errorf("inits %d and %d hold two copies of their program %s", ia, ib, file)
		}
	}
}

// TestForgedInitHint points the hint at processes whose programs (exe,
// and the files they hold where inits hold theirs) are not sealed memfds
// of the init programs: a host program anyone could replace, and an
// unsealed copy of the init program. A new init must not run either: it
// runs a sealed memfd of its own.
func TestForgedInitHint(t *testing.T) {
	cfg := testSliver(t, "orbistest-forged", 500000)
	for name, exe := range map[string]string{"host program": "/usr/bin/sleep", "unsealed copy": writableCopy(t)} {
		t.Run(name, func(t *testing.T) {
			host := exec.Command(exe, "60")
			host.Args[0] = initEntry
			conn, child, err := socketPair()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			defer child.Close()
			prog, err := os.Open(exe)
			if err != nil {
				t.Fatal(err)
			}
			defer prog.Close()
			host.ExtraFiles = []*os.File{child, nil, prog, prog} // initProgFD, idleProgFD
			if err := host.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { host.Process.Kill(); host.Wait() })
			rec, err := readRecord(host.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			if err := noteInit(initHintFile, rec); err != nil {
				t.Fatal(err)
			}
			forgetInit(t)
			pid := startSleeper(t, cfg)
			requireSealedProgram(t, pid)
			for _, file := range []string{"exe", fmt.Sprintf("fd/%d", initProgFD), fmt.Sprintf("fd/%d", idleProgFD)} {
				if inode(t, pid, file) == inode(t, host.Process.Pid, "exe") {
					t.Errorf("the init's %s is %s, which the forged hint named", file, exe)
				}
			}
			if err := Stop(testutil.Context(t), cfg); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// writableCopy is a copy of the init program in a file anyone may write,
// which waits on its boot socket (fd 3) as an init does.
func writableCopy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(initProgram())
	if err != nil {
		t.Fatal(err)
	}
	p := t.TempDir() + "/" + InitProgramName
	if err := os.WriteFile(p, b, 0o777); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSameSealed checks what sameSealed accepts: only all the seals,
// initMode and exactly the bytes.
func TestSameSealed(t *testing.T) {
	want := []byte("the init program")
	tests := []struct {
		name  string
		data  []byte
		seals int
		mode  uint32
		ok    bool
	}{
		{"sealed, same", want, initSeals, initMode, true},
		{"unsealed, same", want, 0, initMode, false},
		{"no write seal", want, unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW, initMode, false},
		{"sealed, other bytes", []byte("the init programme"), initSeals, initMode, false},
		{"sealed, same length", bytes.ToUpper(want), initSeals, initMode, false},
		{"sealed, readable", want, initSeals, 0o555, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, err := unix.MemfdCreate("test", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if _, err := unix.Write(fd, tt.data); err != nil {
				t.Fatal(err)
			}
			if err := unix.Fchmod(fd, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.seals != 0 {
				if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, tt.seals); err != nil {
					t.Fatal(err)
				}
			}
			if got := sameSealed(fd, want); got != tt.ok {
				t.Errorf("sameSealed = %v, want %v", got, tt.ok)
			}
		})
	}
}

// TestInitLingers checks that an init with Linger set spawns a command
// that follows its last one closely, and still exits when none comes.
func TestInitLingers(t *testing.T) {
	cfg := testSliver(t, "orbistest-linger", 500000)
	cfg.Linger = 2 * time.Second
	if _, code := run(t, cfg, "true"); code != 0 {
		t.Fatalf("true exited %d", code)
	}
	first, ok := InitPid(cfg)
	if !ok {
		t.Fatal("the init did not linger after its last command")
	}
	if _, code := run(t, cfg, "true"); code != 0 {
		t.Fatalf("true exited %d", code)
	}
	if again, ok := InitPid(cfg); !ok || again != first {
		t.Errorf("the second command had init %d (running %v), want the lingering %d", again, ok, first)
	}
	t0 := time.Now()
	waitIdle(t, cfg)
	if d := time.Since(t0); d < time.Second {
		t.Errorf("the init exited %v after its last command, want about %v", d, cfg.Linger)
	}
}
