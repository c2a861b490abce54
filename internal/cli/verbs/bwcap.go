package verbs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/shaping"
)

// runBwcap is `orbis node bwcap [--state DIR] [RATE]`: the site admin's cap
// on the node's outgoing bandwidth (paper section 4.2.2). It records RATE
// (e.g. 100mbit, 10mbit, 500kbit) in <state>/net/bwcap, which the node
// agent reads when it starts and on SIGHUP (systemctl reload orbis-node);
// with no RATE it prints the cap recorded. An admin slice sets the cap
// through the admin service instead, which applies it at once.
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
	fmt.Fprintf(env.Stdout, "node bandwidth cap set to %s; the node agent applies it when it restarts or gets SIGHUP (systemctl reload orbis-node)\n", shaping.FormatRate(kbit))
	return nil
}
