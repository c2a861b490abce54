package sandbox

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests need no privilege: they check what the sandbox would ask of
// the kernel (the seccomp program, run here by a small classic-BPF
// interpreter) and the pure checks and helpers around it; the root tests
// check the kernel then enforces it.

// runFilter runs a classic BPF seccomp program on a seccomp_data of arch,
// nr and args[0], as the kernel would, and returns the action it returns.
func runFilter(t *testing.T, prog []unix.SockFilter, arch, nr uint32, arg0 uint64) uint32 {
	t.Helper()
	return runFilterArgs(t, prog, arch, nr, arg0)
}

// runFilterArgs is runFilter with the call's first arguments.
func runFilterArgs(t *testing.T, prog []unix.SockFilter, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64) // struct seccomp_data: nr, arch, ip, args[6]
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case bpfLdAbs:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case bpfJeq, bpfJge, bpfJset:
			var taken bool
			switch in.Code {
			case bpfJeq:
				taken = acc == in.K
			case bpfJge:
				taken = acc >= in.K
			default:
				taken = acc&in.K != 0
			}
			if taken {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case bpfAnd:
			acc &= in.K
		case bpfRet:
			return in.K
		default:
			t.Fatalf("instruction %d: code %#x the test's interpreter does not know", pc, in.Code)
		}
	}
	t.Fatal("the program ran off its end without returning")
	return 0
}

func TestSeccompProgram(t *testing.T) {
	for _, rawNotify := range []bool{false, true} {
		t.Run(fmt.Sprintf("raw sockets notified %v", rawNotify), func(t *testing.T) { testSeccompProgram(t, rawNotify) })
	}
}

// testSeccompProgram checks the filter's answers to calls other than
// socket(2), which are the same with or without the raw socket rule.
func testSeccompProgram(t *testing.T, rawNotify bool) {
	prog, err := seccompProgram(rawNotify)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > 4096 {
		t.Fatalf("%d instructions: over the kernel's BPF_MAXINSNS", len(prog))
	}
	eperm := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM))
	enosys := uint32(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
	allow, kill := uint32(unix.SECCOMP_RET_ALLOW), uint32(unix.SECCOMP_RET_KILL_PROCESS)
	for _, c := range []struct {
		what string
		arch uint32
		nr   uint32
		arg0 uint64
		want uint32
	}{
		{"getpid", auditArch, unix.SYS_GETPID, 0, allow},
		{"mount", auditArch, unix.SYS_MOUNT, 0, eperm},
		{"fsopen", auditArch, unix.SYS_FSOPEN, 0, eperm},
		{"setns", auditArch, unix.SYS_SETNS, 0, eperm},
		{"bpf", auditArch, unix.SYS_BPF, 0, eperm},
		{"io_uring_setup", auditArch, unix.SYS_IO_URING_SETUP, 0, eperm},
		{"init_module", auditArch, unix.SYS_INIT_MODULE, 0, eperm},
		{"clone3", auditArch, unix.SYS_CLONE3, 0, enosys},
		{"clone of a thread", auditArch, unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_THREAD, allow},
		{"clone with a new user namespace", auditArch, unix.SYS_CLONE, unix.CLONE_NEWUSER, eperm},
		{"unshare of a mount namespace", auditArch, unix.SYS_UNSHARE, unix.CLONE_NEWNS, allow},
		{"unshare of a user namespace", auditArch, unix.SYS_UNSHARE, unix.CLONE_NEWUSER | unix.CLONE_NEWNS, eperm},
		{"a user namespace flag in args' high half only", auditArch, unix.SYS_UNSHARE, uint64(unix.CLONE_NEWUSER) << 32, allow},
		{"another architecture", auditArch ^ 1, unix.SYS_GETPID, 0, kill},
	} {
		if got := runFilter(t, prog, c.arch, c.nr, c.arg0); got != c.want {
			t.Errorf("%s: action %#x, want %#x", c.what, got, c.want)
		}
	}
	for _, nr := range deniedSyscalls {
		if got := runFilter(t, prog, auditArch, uint32(nr), 0); got != eperm {
			t.Errorf("denied system call %d: action %#x, want EPERM", nr, got)
		}
	}
	if foreignABIBit != 0 {
		if got := runFilter(t, prog, auditArch, foreignABIBit|unix.SYS_GETPID, 0); got != kill {
			t.Errorf("a system call of the foreign ABI: action %#x, want kill", got)
		}
	}
}

// TestSeccompNotifiedCalls: with rawNotify, the listener gets raw and
// packet socket() calls and setsockopt(IP_RECVERR, IPV6_RECVERR, any
// SOL_PACKET option); other sockets and options go straight through.
func TestSeccompNotifiedCalls(t *testing.T) {
	prog, err := seccompProgram(true)
	if err != nil {
		t.Fatal(err)
	}
	notify, allow := uint32(unix.SECCOMP_RET_USER_NOTIF), uint32(unix.SECCOMP_RET_ALLOW)
	for _, c := range []struct {
		what string
		nr   uint32
		args []uint64
		want uint32
	}{
		{"raw IPv4", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_RAW | unix.SOCK_CLOEXEC, 1}, notify},
		{"raw IPv6", unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_RAW, 58}, notify},
		{"UDP", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_DGRAM, 0}, allow},
		{"packet raw", unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW, 0x0300}, notify},
		{"packet dgram", unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_DGRAM | unix.SOCK_NONBLOCK, 8}, notify},
		{"packet legacy", unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_PACKET, 0x0300}, notify},
		{"unix", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, allow},
		{"IP_RECVERR", unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_IP, unix.IP_RECVERR}, notify},
		{"IPV6_RECVERR", unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_IPV6, unix.IPV6_RECVERR}, notify},
		{"PACKET_QDISC_BYPASS", unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS}, notify},
		{"PACKET_RX_RING", unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_PACKET, unix.PACKET_RX_RING}, notify},
		{"SO_RCVBUF", unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_SOCKET, unix.SO_RCVBUF}, allow},
		{"IP_TTL", unix.SYS_SETSOCKOPT, []uint64{3, unix.SOL_IP, unix.IP_TTL}, allow},
	} {
		if got := runFilterArgs(t, prog, auditArch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: action %#x, want %#x", c.what, got, c.want)
		}
	}
}

// goodConfig is a Config that validates; cases change one thing.
func goodConfig() Config {
	return Config{Name: "pl_a", Image: "/img", Upper: "/s/upper", Work: "/s/work", RunDir: "/run/x", UIDBase: 100000, UIDCount: 65536}
}

func TestConfigValidate(t *testing.T) {
	good := goodConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("a good config refused: %v", err)
	}
	for _, c := range []struct {
		what   string
		change func(*Config)
		want   string
	}{
		{"no name", func(c *Config) { c.Name = "" }, "bad name"},
		{"long name", func(c *Config) { c.Name = strings.Repeat("a", 65) }, "bad name"},
		{"relative image", func(c *Config) { c.Image = "img" }, "image path"},
		{"relative run dir", func(c *Config) { c.RunDir = "run" }, "run dir path"},
		{"upper and work apart", func(c *Config) { c.Work = "/t/work" }, "two directories in one"},
		{"upper is work", func(c *Config) { c.Work = c.Upper }, "two directories in one"},
		{"negative linger", func(c *Config) { c.Linger = -time.Second }, "linger"},
		{"long linger", func(c *Config) { c.Linger = MaxLinger + time.Second }, "linger"},
		{"too many shares", func(c *Config) {
			for i := range maxShares + 1 {
				c.Shares = append(c.Shares, Share{Source: "/src", Target: "/mnt/" + string(rune('a'+i))})
			}
		}, "shares (max"},
		{"two shares at one place", func(c *Config) {
			c.Shares = []Share{{Source: "/a", Target: "/mnt"}, {Source: "/b", Target: "/mnt"}}
		}, "two shares"},
		{"share over /proc", func(c *Config) { c.Shares = []Share{{Source: "/a", Target: "/proc/x"}} }, "the sandbox's own"},
		{"share over /run/orbis", func(c *Config) { c.Shares = []Share{{Source: "/a", Target: RunShareTarget}} }, "the sandbox's own"},
		{"share at /", func(c *Config) { c.Shares = []Share{{Source: "/a", Target: "/"}} }, "below /"},
		{"unclean share target", func(c *Config) { c.Shares = []Share{{Source: "/a", Target: "/mnt/../dev"}} }, "clean"},
		{"relative share source", func(c *Config) { c.Shares = []Share{{Source: "a", Target: "/mnt"}} }, "not absolute"},
		{"UID base 0 (host root)", func(c *Config) { c.UIDBase = 0 }, "UID range"},
		{"empty UID range", func(c *Config) { c.UIDCount = 0 }, "UID range"},
		{"UID range past 2^32-1", func(c *Config) { c.UIDBase = 1<<32 - 100 }, "UID range"},
	} {
		t.Run(c.what, func(t *testing.T) {
			cfg := goodConfig()
			c.change(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Validate = %v, want an error saying %q", err, c.want)
			}
		})
	}
}

func TestCmdValidate(t *testing.T) {
	cfg := goodConfig()
	for _, c := range []struct {
		cmd Cmd
		ok  bool
	}{
		{Cmd{Args: []string{"sh"}}, true},
		{Cmd{Args: []string{"sh"}, UID: 65535, GID: 65535}, true},
		{Cmd{}, false},
		{Cmd{Args: []string{""}}, false},
		{Cmd{Args: []string{"sh"}, UID: 65536}, false}, // would be another slice's UID
		{Cmd{Args: []string{"sh"}, GID: 1 << 20}, false},
	} {
		if err := c.cmd.validate(&cfg); (err == nil) != c.ok {
			t.Errorf("validate(%+v) = %v, want ok %v", c.cmd, err, c.ok)
		}
	}
}

func TestAllShares(t *testing.T) {
	cfg := goodConfig()
	if got := cfg.allShares(); len(got) != 0 {
		t.Errorf("no shares: %v", got)
	}
	cfg.RunShare, cfg.Shares = "/var/lib/orbis/run-share", []Share{{Source: "/nm", Target: "/run/orbis-nm"}}
	got := cfg.allShares()
	if len(got) != 2 || got[0] != (Share{Source: cfg.RunShare, Target: RunShareTarget}) || got[1] != cfg.Shares[0] {
		t.Errorf("allShares = %v, want the run share first, then Shares", got)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=/root", "PATH=/nonexistent:" + dir}
	if got, err := lookPath("tool", env); err != nil || got != exe {
		t.Errorf("lookPath(tool) = %q, %v; want %q", got, err, exe)
	}
	if got, err := lookPath("./x/y", env); err != nil || got != "./x/y" {
		t.Errorf("a path with a slash is taken as it is: %q, %v", got, err)
	}
	if _, err := lookPath("data", env); err == nil {
		t.Error("lookPath found a file that is not executable")
	}
	if _, err := lookPath("tool", []string{"PATH=/nonexistent"}); err == nil {
		t.Error("lookPath found a program outside PATH")
	}
}

func TestExitCode(t *testing.T) {
	for _, c := range []struct {
		ws   syscall.WaitStatus
		want int
	}{
		{syscall.WaitStatus(3 << 8), 3},                 // exit(3)
		{syscall.WaitStatus(0), 0},                      // exit(0)
		{syscall.WaitStatus(syscall.SIGKILL), 128 + 9},  // killed
		{syscall.WaitStatus(syscall.SIGTERM), 128 + 15}, // terminated
	} {
		if got := exitCode(c.ws); got != c.want {
			t.Errorf("exitCode(%#x) = %d, want %d", uint32(c.ws), got, c.want)
		}
	}
}

func TestInitRecordString(t *testing.T) {
	r := initRecord{Pid: 42, StartTime: 123456, UserNS: 4026531837}
	if got := r.String(); got != "42 123456 4026531837\n" {
		t.Errorf("String = %q", got)
	}
}
