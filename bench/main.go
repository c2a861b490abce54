// Command bench measures a node of Orbis on this machine and prints the
// results as Markdown tables for BENCHMARKS.md: sliver creation (acquire +
// bind + boot script started) beside `runc run` of the same root file
// system, disk and memory per sliver, and density. It needs root.
//
//	go run ./bench [-n 100] [-density 0] [-runc=true]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"sort"
	"time"

	"github.com/orbisproject/orbis/internal/reexec"
)

func main() {
	if reexec.Init() {
		return
	}
	n := flag.Int("n", 100, "slivers to create for the creation, disk and memory figures")
	density := flag.Int("density", 0, "if > 0, create this many slivers and report creation time per thousand")
	withRunc := flag.Bool("runc", true, "time `runc run` of the same root file system side by side")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: run as root")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *n, *density, *withRunc); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, density int, withRunc bool) error {
	fmt.Printf("Machine: %d CPUs, %s, Linux %s, %s\n\n", runtime.NumCPU(), memTotal(), kernel(), time.Now().UTC().Format("2006-01-02"))
	b, err := newBench(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer b.close()
	res, err := b.creations(ctx, n, "bench")
	if err != nil {
		return err
	}
	rows := [][]string{{"orbis acquire+bind+boot", ms(pct(res.times, 50)), ms(pct(res.times, 99)), ms(mean(res.times))}}
	var runcTimes []time.Duration
	if withRunc {
		runcTimes, err = b.runcRuns(ctx, n)
		if err != nil {
			return err
		}
		rows = append(rows, []string{"runc run (Debian's runc)", ms(pct(runcTimes, 50)), ms(pct(runcTimes, 99)), ms(mean(runcTimes))})
	}
	fmt.Printf("Sliver creation, %d in a row:\n\n", n)
	table([]string{"what", "p50", "p99", "mean"}, rows)
	if withRunc {
		fmt.Printf("\nratio runc/orbis at p50: %.2f\n", float64(pct(runcTimes, 50))/float64(pct(res.times, 50)))
	}
	fmt.Printf("\nPer sliver, averaged over %d slivers:\n\n", n)
	table([]string{"what", "value"}, [][]string{
		{"disk (writable layer, btrfs qgroup)", fmt.Sprintf("%.1f KiB", float64(res.diskBytes)/float64(n)/1024)},
		{"resident processes when idle", fmt.Sprintf("%d", res.idleProcs)},
		{"node memory (MemAvailable drop)", fmt.Sprintf("%.1f KiB", float64(res.memBytes)/float64(n)/1024)},
	})
	if density > 0 {
		if err := b.density(ctx, density); err != nil {
			return err
		}
	}
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
