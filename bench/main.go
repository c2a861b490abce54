// Command bench measures a node of Orbis on this machine and prints the
// results as Markdown tables for BENCHMARKS.md. It needs root and the
// built binaries (make build).
//
// Creation: each round starts, in a rotating order, one container of each
// kind running /bin/true: a sliver through the user's path (the orbis CLI:
// nm acquire, nm bind, sliver exec; nm create (acquire and bind) and
// sliver exec; or sliver run, all three in one) and a broker's path in process
// (acquire and bind over the node manager's socket, to the boot script
// started), both against a running node agent (`orbis node`, network layer
// included, in a network namespace of its own); runc, crun and
// lxc-execute of the same busybox root; and the floor, a C program that
// clones into new namespaces, pivots into the root and executes.
// Interleaving spreads the machine's other load over all of them alike.
//
// Density (-density N): N slivers, each running one process, and the
// memory each costs the node.
//
// Exec (-exec-at N): `orbis sliver exec` in idle slivers of a node holding
// N slivers.
//
//	go run ./bench [-rounds 30] [-density 0] [-exec-at 0] [-bin bin] [-profile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"github.com/orbisproject/orbis/internal/reexec"
)

func main() {
	if reexec.Init() {
		return
	}
	rounds := flag.Int("rounds", 30, "creation rounds, each starting one container of every kind")
	density := flag.Int("density", 0, "if > 0, start this many slivers, each running one process, and report memory per sliver")
	bin := flag.String("bin", "bin", "directory of the built orbis and orbis-init (make build)")
	execAt := flag.Int("exec-at", 0, "if > 0, fill the node with this many idle slivers and time `orbis sliver exec` in them")
	profile := flag.String("profile", "", "write the node agent's CPU profile to this new file (go tool pprof -top bin/orbis FILE)")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *rounds, *density, *execAt, *bin, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rounds, density, execAt int, bin, profile string) error {
	fmt.Printf("Machine: %d CPUs, %s, Linux %s, %s\n\n", runtime.NumCPU(), memTotal(), kernel(), time.Now().UTC().Format("2006-01-02"))
	a, err := startAgent(ctx, bin, profile)
	if err != nil {
		return err
	}
	defer a.close()
	if rounds > 0 {
		if err := creation(ctx, a, rounds); err != nil {
			return err
		}
	}
	if execAt > 0 {
		if err := a.execAt(ctx, execAt, 30); err != nil {
			return err
		}
	}
	if density > 0 {
		return a.density(ctx, density)
	}
	return nil
}

// A contender is one way of starting a container running /bin/true.
type contender struct {
	name  string
	start func(ctx context.Context, i int) error
	times []time.Duration
}

func creation(ctx context.Context, a *agent, rounds int) error {
	rt, err := newRuntimes(ctx, a.state, filepath.Join(a.state, "images", "busybox", "rootfs"))
	if err != nil {
		return err
	}
	defer rt.close()
	cs := []*contender{
		{name: "orbis CLI: nm acquire + nm bind + sliver exec", start: func(ctx context.Context, i int) error { return a.cliCreate(ctx, fmt.Sprintf("bench_cli%d", i)) }},
		{name: "orbis CLI: nm create + sliver exec", start: func(ctx context.Context, i int) error { return a.nmCreate(ctx, fmt.Sprintf("bench_mk%d", i)) }},
		{name: "orbis CLI: sliver run (one process)", start: func(ctx context.Context, i int) error { return a.runCreate(ctx, fmt.Sprintf("bench_run%d", i)) }},
		{name: "orbis in process: acquire + bind, boot script started", start: func(ctx context.Context, i int) error {
			return a.apiCreate(ctx, fmt.Sprintf("bench_api%d", i), "/bin/true")
		}},
		{name: "runc run", start: func(ctx context.Context, _ int) error { return rt.runc(ctx) }},
		{name: "crun run", start: func(ctx context.Context, _ int) error { return rt.crun(ctx) }},
		{name: "lxc-execute", start: func(ctx context.Context, _ int) error { return rt.lxc(ctx) }},
		{name: "floor (C: clone, pivot_root, exec)", start: func(ctx context.Context, _ int) error { return rt.floorRun(ctx) }},
	}
	for i := range rounds + 1 { // round 0 is not timed: caches, images, binaries
		for j := range cs {
			c := cs[(i+j)%len(cs)]
			t0 := time.Now()
			if err := c.start(ctx, i); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			if i > 0 {
				c.times = append(c.times, time.Since(t0))
			}
		}
		fmt.Fprintf(os.Stderr, "\rround %d/%d", i, rounds)
	}
	fmt.Fprintln(os.Stderr)
	var runcP50 time.Duration
	for _, c := range cs {
		if c.name == "runc run" {
			runcP50 = pct(c.times, 50)
		}
	}
	var rows [][]string
	for _, c := range cs {
		p50 := pct(c.times, 50)
		rows = append(rows, []string{c.name, ms(p50), ms(pct(c.times, 90)), fmt.Sprintf("%.2f", float64(p50)/float64(runcP50))})
	}
	fmt.Printf("Creation to /bin/true, %d interleaved rounds:\n\n", rounds)
	table([]string{"what", "p50", "p90", "p50 / runc"}, rows)
	return nil
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func mean(d []time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(max(len(d), 1))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// table prints an aligned Markdown table.
func table(head []string, rows [][]string) {
	w := make([]int, len(head))
	for _, r := range append([][]string{head}, rows...) {
		for i, c := range r {
			w[i] = max(w[i], len(c))
		}
	}
	line := func(r []string) {
		for i, c := range r {
			fmt.Printf("| %-*s ", w[i], c)
		}
		fmt.Println("|")
	}
	line(head)
	sep := make([]string, len(head))
	for i := range sep {
		sep[i] = dashes(w[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

func dashes(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '-'
	}
	return string(b)
}
