package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/orbisproject/orbis/api"
)

func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("orbis-admin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ps prints the processes of the node's slivers as an aligned table.
func ps(ctx context.Context, c *api.AdminClient, args []string, stdout, stderr io.Writer) error {
	fs := flags("ps", stderr)
	asJSON := fs.Bool("json", false, "print JSON (with start_ticks for kill --start)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return usageError("ps takes no arguments but --json")
	}
	l, err := c.PS(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		e := json.NewEncoder(stdout)
		e.SetIndent("", "  ")
		return e.Encode(l)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tPPID\tUID\tSLICE\tS\tTIME\tRSS\tSTART\tCOMMAND")
	for _, p := range l.Processes {
		slice := p.Slice
		if slice == "" {
			slice = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", p.PID, p.PPID, p.UID, slice, p.State,
			cpuTime(p.CPU), size(p.RSS), startTime(p.Start), truncate(p.Command, 80))
	}
	return tw.Flush()
}

// cpuTime writes d as ps does: [H:]MM:SS.
func cpuTime(d time.Duration) string {
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%02d:%02d", s/60, s%60)
}

// size writes bytes in K, M or G.
func size(b int64) string {
	switch {
	case b >= 10<<30:
		return fmt.Sprintf("%dG", b>>30)
	case b >= 10<<20:
		return fmt.Sprintf("%dM", b>>20)
	}
	return fmt.Sprintf("%dK", b>>10)
}

// startTime writes t as a time today, else as a date.
func startTime(t time.Time) string {
	if time.Since(t) < 20*time.Hour {
		return t.Local().Format("15:04:05")
	}
	return t.Local().Format("Jan02")
}

// truncate cuts s to n runes, and replaces control characters (which
// the service already does, but a listing must never forge lines).
func truncate(s string, n int) string {
	r := []rune(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s))
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

// kill signals one process.
func kill(ctx context.Context, c *api.AdminClient, args []string, stdout, stderr io.Writer) error {
	fs := flags("kill", stderr)
	start := fs.Uint64("start", 0, "the process's start_ticks (ps --json): refuse if PID is now another process")
	if err := fs.Parse(args); err != nil || fs.NArg() < 1 || fs.NArg() > 2 {
		return usageError("kill [--start TICKS] PID [SIGNAL]")
	}
	pid, err := strconv.Atoi(fs.Arg(0))
	if err != nil {
		return usageError(fmt.Sprintf("PID %q: not a number", fs.Arg(0)))
	}
	r, err := c.Kill(ctx, api.AdminKillRequest{PID: pid, Signal: fs.Arg(1), StartTicks: *start})
	if err != nil {
		return err
	}
	slice := r.Slice
	if slice == "" {
		slice = "the host"
	}
	fmt.Fprintf(stdout, "sent %s to pid %d (%s, of %s)\n", r.Signal, r.PID, r.Command, slice)
	return nil
}

// bwcap shows or sets the node's cap.
func bwcap(ctx context.Context, c *api.AdminClient, args []string, stdout, stderr io.Writer) error {
	var b api.AdminBwcap
	var err error
	switch len(args) {
	case 0:
		b, err = c.Bwcap(ctx)
	case 1:
		b, err = c.SetBwcap(ctx, args[0])
	default:
		return usageError("bwcap [RATE]")
	}
	if err != nil {
		return err
	}
	line := api.FormatRate(b.KBit)
	if !b.Set {
		line += " (default; none set)"
	}
	switch {
	case b.AppliedKBit == 0:
		line += ", not applied: this node shapes no uplink"
	case b.AppliedKBit != b.KBit:
		line += fmt.Sprintf(", not applied yet (now %s)", api.FormatRate(b.AppliedKBit))
	default:
		line += ", applied"
	}
	if b.PolicyKBit > 0 {
		line += "; the local policy allows at most " + api.FormatRate(b.PolicyKBit)
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// errEnough ends a watch that printed the packets asked for.
var errEnough = errors.New("enough packets")

// watch prints the node's outgoing packets until interrupted.
func watch(ctx context.Context, c *api.AdminClient, args []string, stdout, stderr io.Writer) error {
	fs := flags("watch", stderr)
	pcap := fs.Bool("pcap", false, "write pcap (headers only) for tcpdump -r -")
	count := fs.Int("c", 0, "exit after this many packets (0: until interrupted)")
	if err := fs.Parse(args); err != nil {
		return usageError("watch [--pcap] [-c N] [FILTER...]")
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var w packetWriter = textWriter{out}
	if *pcap {
		pw, err := newPcapWriter(out)
		if err != nil {
			return err
		}
		w = pw
	}
	var n int
	var dropped, kernel uint64
	err := c.Watch(ctx, strings.Join(fs.Args(), " "), func(ev api.AdminWatchEvent) error {
		if ev.Packet == nil {
			dropped, kernel = max(dropped, ev.Dropped), max(kernel, ev.KernelDropped)
			fmt.Fprintf(stderr, "orbis-admin: %d packets dropped (read too slowly), %d lost by the node's capture\n", dropped, kernel)
			return nil
		}
		if err := w.write(ev.Packet); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if n++; *count > 0 && n >= *count {
			return errEnough
		}
		return nil
	})
	fmt.Fprintf(stderr, "%d packets shown, %d dropped, %d lost by the node's capture\n", n, dropped, kernel)
	if errors.Is(err, errEnough) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
