package admin

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/orbisproject/orbis/api"
)

// clockTicks is USER_HZ, the unit of times in /proc/<pid>/stat: 100 on
// every Linux architecture's user ABI.
const clockTicks = 100

// maxCommand bounds the command line a process is listed with.
const maxCommand = 200

// pfKthread marks a kernel thread in the flags field of /proc/<pid>/stat.
const pfKthread = 0x00200000

// process is what the service reads about one process.
type process struct {
	api.AdminProcess
	kthread bool
}

// PS lists the processes caller c may see, by PID: every process of the
// node for root, the slivers' processes for an admin slice (a host
// process's command line may hold anything, a password included).
func (s *Service) PS(c Caller) (api.AdminPS, error) {
	ents, err := os.ReadDir(s.cfg.ProcRoot)
	if err != nil {
		return api.AdminPS{}, fmt.Errorf("list processes: %w", err)
	}
	boot := bootTime(s.cfg.ProcRoot)
	out := api.AdminPS{Processes: []api.AdminProcess{}}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := s.readProcess(pid, boot)
		if err != nil {
			continue // it exited while we looked
		}
		if !c.mayTouch(p) {
			continue
		}
		out.Processes = append(out.Processes, p.AdminProcess)
	}
	sort.Slice(out.Processes, func(i, j int) bool { return out.Processes[i].PID < out.Processes[j].PID })
	return out, nil
}

// mayTouch says whether c may see and signal p: root any process, an
// admin slice the processes in slivers' UID ranges only.
func (c Caller) mayTouch(p process) bool {
	return c.HostUID == 0 || p.Slice != ""
}

// readProcess reads one process's stat, status and command line, and
// names its slice.
func (s *Service) readProcess(pid int, boot time.Time) (process, error) {
	dir := filepath.Join(s.cfg.ProcRoot, strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return process{}, err
	}
	p, err := parseStat(stat)
	if err != nil {
		return process{}, fmt.Errorf("process %d: %w", pid, err)
	}
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return process{}, err
	}
	p.UID = realUID(status)
	p.Start = boot.Add(time.Duration(p.StartTicks) * time.Second / clockTicks)
	cmd, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	if c := strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))); c != "" {
		p.Command = c
	}
	p.Command = printable(p.Command, maxCommand)
	if p.UID != 0 {
		p.Slice, _ = s.cfg.Authorize(p.UID)
	}
	return p, nil
}

// printable cuts s to n bytes and replaces control characters and invalid
// UTF-8 with '?': a sliver names its processes, and must not be able to
// forge lines or escape sequences in the admin's listing.
func printable(s string, n int) string {
	s = strings.ToValidUTF8(s[:min(len(s), n)], "?")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// parseStat reads /proc/<pid>/stat: the command (between the first "("
// and the last ")", as it may hold anything), then the fields after it.
func parseStat(b []byte) (process, error) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return process{}, errors.New("malformed stat")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return process{}, errors.New("malformed stat")
	}
	// f[0] is field 3 (state): field n is f[n-3].
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 22 {
		return process{}, errors.New("short stat")
	}
	num := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	p := process{AdminProcess: api.AdminProcess{
		PID: pid, PPID: int(num(4)), State: f[0],
		CPU:        time.Duration(num(14)+num(15)) * time.Second / clockTicks,
		StartTicks: num(22),
		RSS:        int64(num(24)) * int64(os.Getpagesize()),
		Command:    "[" + printable(string(b[open+1:end]), maxCommand) + "]",
	}}
	p.kthread = num(9)&pfKthread != 0
	return p, nil
}

// realUID is the real UID on the "Uid:" line of a status file.
func realUID(status []byte) uint32 {
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				u, _ := strconv.ParseUint(f[0], 10, 32)
				return uint32(u)
			}
		}
	}
	return 0
}

// bootTime is when the machine booted (btime in /proc/stat).
func bootTime(procRoot string) time.Time {
	b, _ := os.ReadFile(filepath.Join(procRoot, "stat"))
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return time.Unix(n, 0)
		}
	}
	return time.Time{}
}
