package node

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/shaping"
)

// runBwcap is `orbis node bwcap [--state DIR] [RATE]`: the site admin's cap
// on the node's outgoing bandwidth (paper section 4.2.2). It records RATE
// (e.g. 100mbit, 10mbit, 500kbit) in <state>/net/bwcap, which the running
// node agent applies within seconds (shaping.WatchCap); with no RATE it
// prints the cap recorded.
func runBwcap(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("orbis node bwcap", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	state := fs.String("state", "/var/lib/orbis", "state directory of the node")
	if err := fs.Parse(args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	switch fs.NArg() {
	case 0:
		kbit, ok, err := shaping.ReadCap(*state)
		if err != nil {
			return err
		}
		if !ok {
			fmt.Fprintf(env.Stdout, "%s (default; none set)\n", shaping.FormatRate(shaping.DefaultRootRate))
			return nil
		}
		fmt.Fprintln(env.Stdout, shaping.FormatRate(kbit))
		return nil
	case 1:
	default:
		return &cli.UsageError{Msg: "usage: orbis node bwcap [--state DIR] [RATE]   (RATE e.g. 100mbit, 500kbit)"}
	}
	kbit, err := shaping.ParseRate(fs.Arg(0))
	if err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	if os.Geteuid() != 0 {
		return errors.New("setting the node's bandwidth cap needs root")
	}
	if err := shaping.WriteCap(*state, kbit); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "node bandwidth cap set to %s; the node agent applies it within seconds\n", shaping.FormatRate(kbit))
	return nil
}

// setCapBound bounds the node's outgoing cap by the local policy's
// bandwidth (kbit/s; 0: no bound) and applies it at once.
func (n *network) setCapBound(kbit int64) {
	n.capBound.Store(kbit)
	select {
	case n.capKick <- struct{}{}:
	default:
	}
}

// watchCap applies the node's cap: the one `orbis node bwcap` (or the
// admin slice) recorded, else the default, never above the local policy's
// bandwidth. It looks again every interval, and at once when the policy
// changes.
func (n *network) watchCap(ctx context.Context, stateDir string, every time.Duration) {
	var applied int64
	for {
		kbit, ok, err := shaping.ReadCap(stateDir)
		if err != nil {
			n.log.Warn("node cap", "err", err)
		}
		if !ok || err != nil {
			kbit = shaping.DefaultRootRate
		}
		if bound := n.capBound.Load(); bound > 0 && kbit > bound {
			kbit = bound
		}
		if kbit != applied {
			if err := n.shaper.SetCap(ctx, kbit); err != nil {
				n.log.Warn("node cap", "err", err)
			} else {
				applied = kbit
				n.log.Info("node cap applied", "kbit", kbit, "policy_bound", n.capBound.Load())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		case <-n.capKick:
		}
	}
}
