package swinstall

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// hookTree names the processes an update hook made, for killing them at
// its deadline: the hook, the members of its session (the sliver's init
// starts it as a session leader), their descendants, and every process
// holding the hook's output pipe. Only processes of the sliver (host UIDs
// in [uidLow, uidHigh)) are ever signalled, and never the init that
// started the hook (parent).
type hookTree struct {
	pid             int
	parent          int
	uidLow, uidHigh uint32
	pipe            string // "pipe:[inode]" of the output, as /proc shows it
}

// maxKillRounds bounds how often kill looks again for processes forked
// while it killed.
const maxKillRounds = 8

// kill SIGKILLs the tree, looking again until it finds no one.
func (t hookTree) kill() {
	for range maxKillRounds {
		if t.killOnce() == 0 {
			return
		}
	}
}

// killOnce kills what it finds of the tree now and says how many.
func (t hookTree) killOnce() int {
	procs := readProcs()
	in := map[int]bool{}
	for _, p := range procs {
		if t.pid > 0 && (p.pid == t.pid || p.sid == t.pid) || p.holds(t.pipe) {
			in[p.pid] = true
		}
	}
	for grew := true; grew; { // descendants of any of them
		grew = false
		for _, p := range procs {
			if !in[p.pid] && in[p.ppid] {
				in[p.pid], grew = true, true
			}
		}
	}
	n := 0
	for _, p := range procs {
		if in[p.pid] && p.pid != t.parent && p.uid >= t.uidLow && p.uid < t.uidHigh {
			if unix.Kill(p.pid, syscall.SIGKILL) == nil {
				n++
			}
		}
	}
	return n
}

// proc is what kill reads of one process.
type proc struct {
	pid, ppid, sid int
	uid            uint32
}

// holds says whether p has the pipe open.
func (p proc) holds(pipe string) bool {
	if pipe == "" {
		return false
	}
	dir := "/proc/" + strconv.Itoa(p.pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == pipe {
			return true
		}
	}
	return false
}

// readProcs reads every process's IDs from /proc.
func readProcs() []proc {
	ents, _ := os.ReadDir("/proc")
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// readProc reads pid's parent and session from stat, its real UID from
// status.
func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	end := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[end+1:])) // f[0] is field 3 (state)
	if end < 0 || len(f) < 4 {
		return proc{}, false
	}
	p := proc{pid: pid}
	p.ppid, _ = strconv.Atoi(f[1])
	p.sid, _ = strconv.Atoi(f[3])
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return proc{}, false
	}
	for line := range strings.Lines(string(st)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if u := strings.Fields(rest); len(u) > 0 {
				n, _ := strconv.ParseUint(u[0], 10, 32)
				p.uid = uint32(n)
			}
		}
	}
	return p, true
}

// parentOf is pid's parent, or 0.
func parentOf(pid int) int {
	p, _ := readProc(pid)
	return p.ppid
}

// pipeInode names f's pipe as /proc/PID/fd links show it.
func pipeInode(f *os.File) string {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return ""
	}
	return fmt.Sprintf("pipe:[%d]", st.Ino)
}
