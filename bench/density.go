package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// density starts n slivers through the node manager, each running one
// process (its boot script execs a sleep), and reports creation time as
// the node fills and the memory each running sliver costs: the node's
// whole (MemAvailable), its init's own (private) and shared pages, and
// the agent's.
func (a *agent) density(ctx context.Context, n int) error {
	mem0, shm0, agent0 := memAvailable(), meminfo("Shmem:"), rollup(a.proc.Process.Pid)["Rss"]
	step := max(n/10, 1)
	var rows [][]string
	var times []time.Duration
	for i := range n {
		t0 := time.Now()
		if err := a.apiCreate(ctx, fmt.Sprintf("dense_s%d", i), "exec sleep 1000000"); err != nil {
			return fmt.Errorf("after %d slivers: %w", i, err)
		}
		times = append(times, time.Since(t0))
		if (i+1)%step == 0 || i+1 == n {
			rows = append(rows, []string{strconv.Itoa(i + 1), ms(pct(times, 50)), ms(pct(times, 90))})
			times = times[:0]
			fmt.Fprintf(os.Stderr, "\rrunning %d/%d slivers", i+1, n)
		}
	}
	fmt.Fprintln(os.Stderr)
	time.Sleep(2 * time.Second)
	inits := a.inits()
	var anon, shmem, pss int64
	for _, pid := range inits {
		r := rollup(pid)
		anon, shmem, pss = anon+r["Pss_Anon"], shmem+r["Pss_Shmem"], pss+r["Pss"]
	}
	kib := func(total int64) string { return fmt.Sprintf("%.0f KiB", float64(total)/float64(n)/1024) }
	fmt.Printf("\nDensity: %d slivers, each running one process (%d inits found), creation time as the node fills:\n\n", n, len(inits))
	table([]string{"slivers", "p50", "p90"}, rows)
	fmt.Printf("\nMemory per running sliver:\n\n")
	table([]string{"what", "per sliver"}, [][]string{
		{"node (MemAvailable drop: processes, kernel objects, page cache)", kib(mem0 - memAvailable())},
		{"its init's own pages (Pss_Anon)", kib(anon)},
		{"its init's binary (Pss_Shmem: sealed memfds, one per program and node)", kib(shmem)},
		{"its init in all (Pss)", kib(pss)},
		{"shared memory (Shmem growth)", kib(meminfo("Shmem:") - shm0)},
		{"node agent (Rss growth)", kib(rollup(a.proc.Process.Pid)["Rss"] - agent0)},
	})
	return nil
}

// inits are the pids of the agent's children that run the init program,
// or the idle program that a running sliver's init becomes.
func (a *agent) inits() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if (strings.HasPrefix(exe, "/memfd:orbis-init") || strings.HasPrefix(exe, "/memfd:orbis-idle")) && ppid(pid) == a.proc.Process.Pid {
			pids = append(pids, pid)
		}
	}
	return pids
}

func ppid(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	p, _ := strconv.Atoi(f[1])
	return p
}

// rollup reads /proc/PID/smaps_rollup, in bytes.
func rollup(pid int) map[string]int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[strings.TrimSuffix(f[0], ":")] = kb << 10
		}
	}
	return out
}

func memAvailable() int64 { return meminfo("MemAvailable:") }

func meminfo(key string) int64 {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func memTotal() string { return memString(meminfo("MemTotal:")) }

func memString(b int64) string { return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30)) }

func kernel() string {
	var u unix.Utsname
	unix.Uname(&u)
	return unix.ByteSliceToString(u.Release[:])
}
