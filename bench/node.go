package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/node"
	"github.com/orbisproject/orbis/internal/nodemgr"
)

// bench is a node of its own in a temporary state directory, with its node
// manager served on a socket there and called through the ordinary client.
type bench struct {
	state  string
	node   *node.Node
	nm     *nodemgr.Manager
	client *api.NMClient
	cancel context.CancelFunc
	rcaps  []api.Rcap
}

func newBench(ctx context.Context, log *slog.Logger) (*bench, error) {
	state, err := os.MkdirTemp("/var/tmp", "orbisbench-")
	if err != nil {
		return nil, err
	}
	b := &bench{state: state}
	b.node, err = node.Open(ctx, node.Config{StateDir: state, CgroupParent: "orbisbench", Log: log})
	if err != nil {
		return nil, err
	}
	if _, err := b.node.Images.Build(ctx, "busybox", "busybox", nil); err != nil {
		return nil, err
	}
	b.nm, err = nodemgr.Open(ctx, nodemgr.Options{StateDir: filepath.Join(state, "nm"), Runtime: b.node.Slivers,
		Node: nodemgr.Node{MemoryBytes: 16 << 30, DiskBytes: 16 << 30, DefaultDiskMax: 1 << 30, DefaultImage: "busybox"}, Log: log})
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(state, "nm.sock")
	l, err := nodemgr.Listen(sock)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	b.cancel = cancel
	go b.nm.Serve(sctx, l)
	b.client = api.NewNMClient(sock)
	return b, nil
}

// close releases every rcap (destroying the slivers) and removes the node.
func (b *bench) close() {
	ctx := context.Background()
	for _, rc := range b.rcaps {
		if err := b.client.Release(ctx, rc); err != nil {
			fmt.Fprintln(os.Stderr, "bench: release:", err)
		}
	}
	b.cancel()
	b.nm.Close()
	b.node.Close()
	hierarchies, _ := os.ReadDir("/sys/fs/cgroup")
	for _, h := range hierarchies {
		os.Remove("/sys/fs/cgroup/" + h.Name() + "/orbisbench/fair")
		os.Remove("/sys/fs/cgroup/" + h.Name() + "/orbisbench")
	}
	os.RemoveAll(b.state)
}

type creationResult struct {
	times     []time.Duration
	diskBytes int64
	idleProcs int
	memBytes  int64
}

// creations makes n slivers one after the other, each acquire + bind with
// a boot script, and measures time, disk, processes and memory.
func (b *bench) creations(ctx context.Context, n int, prefix string) (creationResult, error) {
	var res creationResult
	mem0 := memAvailable()
	for i := range n {
		name := fmt.Sprintf("%s_s%d", prefix, len(b.rcaps))
		t0 := time.Now()
		if err := b.create(ctx, name); err != nil {
			return res, err
		}
		res.times = append(res.times, time.Since(t0))
		if (i+1)%25 == 0 {
			fmt.Fprintf(os.Stderr, "\rcreated %d/%d slivers", i+1, n)
		}
	}
	fmt.Fprintln(os.Stderr)
	// Wait for the boot scripts to end and the slivers to go idle.
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := b.client.List(ctx)
		if err != nil {
			return res, err
		}
		res.idleProcs = 0
		for _, s := range list.Slivers {
			res.idleProcs += s.Procs
		}
		if res.idleProcs == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	unix.Sync()
	time.Sleep(time.Second)
	res.memBytes = mem0 - memAvailable()
	for i := range n {
		u, err := b.node.Disk.Usage(fmt.Sprintf("%s_s%d", prefix, len(b.rcaps)-n+i))
		if err != nil {
			return res, err
		}
		res.diskBytes += u
	}
	return res, nil
}

func (b *bench) create(ctx context.Context, name string) error {
	rc, err := b.client.Acquire(ctx, api.Rspec{CPUShares: 1, Privileges: api.Privileges{CreateSliver: true}})
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	b.rcaps = append(b.rcaps, rc)
	if err := b.client.Bind(ctx, name, rc, api.BindAttrs{InitScript: "echo up"}); err != nil {
		return fmt.Errorf("bind %s: %w", name, err)
	}
	return nil
}

// density creates total slivers (counting those already made) and prints
// the creation time of each thousand.
func (b *bench) density(ctx context.Context, total int) error {
	fmt.Printf("\nDensity: creation time as the node fills up:\n\n")
	var rows [][]string
	for len(b.rcaps) < total {
		step := min(1000, total-len(b.rcaps))
		from := len(b.rcaps)
		res, err := b.creations(ctx, step, "dense")
		if err != nil {
			return fmt.Errorf("after %d slivers: %w", len(b.rcaps), err)
		}
		rows = append(rows, []string{fmt.Sprintf("%d-%d", from+1, len(b.rcaps)), ms(pct(res.times, 50)), ms(pct(res.times, 99)), memString(memAvailable())})
	}
	table([]string{"slivers", "p50", "p99", "MemAvailable after"}, rows)
	return nil
}

// runcRuns times `runc run` of a container with the busybox image as its
// root running /bin/true, n times.
func (b *bench) runcRuns(ctx context.Context, n int) ([]time.Duration, error) {
	rootfs, err := b.node.Images.Path("busybox")
	if err != nil {
		return nil, err
	}
	bundle := filepath.Join(b.state, "runc-bundle")
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("runc spec: %v: %s", err, out)
	}
	if err := editSpec(filepath.Join(bundle, "config.json"), rootfs); err != nil {
		return nil, err
	}
	var times []time.Duration
	for i := range n {
		id := fmt.Sprintf("orbisbench-%d", i)
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, "runc", "--root", filepath.Join(b.state, "runc"), "run", "--bundle", bundle, id).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("runc run: %v: %s", err, out)
		}
		times = append(times, time.Since(t0))
	}
	return times, nil
}

// editSpec points runc's default spec at rootfs, read-only, running
// /bin/true without a terminal.
func editSpec(path, rootfs string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	spec["root"] = map[string]any{"path": rootfs, "readonly": true}
	proc := spec["process"].(map[string]any)
	proc["terminal"] = false
	proc["args"] = []string{"/bin/true"}
	out, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
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
