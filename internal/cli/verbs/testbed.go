package verbs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/testbed"
)

const testbedUsage = "usage: orbis testbed up --nodes N [--dir DIR] | status [--dir DIR] | down [--dir DIR]"

func runTestbed(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) == 0 {
		return &cli.UsageError{Msg: testbedUsage}
	}
	sub := args[0]
	fs := flag.NewFlagSet("orbis testbed "+sub, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	// Each node has its own name for the binary, so that `orbis nodes
	// upgrade` replaces each node's alone.
	cfg := testbed.Config{Out: env.Stdout, OwnBinary: true}
	fs.StringVar(&cfg.Dir, "dir", testbed.DefaultDir, "state of the testbed: central's data, each node's, the logs")
	fs.StringVar(&cfg.Prefix, "prefix", testbed.DefaultPrefix, "name prefix of the testbed's links, namespaces and cgroups")
	debug := fs.Bool("debug", false, "log debug records")
	var subnet string
	switch sub {
	case "up":
		fs.IntVar(&cfg.Nodes, "nodes", 3, "how many nodes")
		fs.StringVar(&subnet, "subnet", testbed.DefaultSubnet.String(), "the testbed's private IPv4 network (host .1, node i .10+i)")
		fs.IntVar(&cfg.CentralPort, "central-port", testbed.DefaultCentralPort, "central's port on the host's bridge address")
	case "status", "down":
	default:
		return &cli.UsageError{Msg: fmt.Sprintf("orbis testbed: unknown subcommand %q\n%s", sub, testbedUsage)}
	}
	if err := fs.Parse(args[1:]); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &cli.UsageError{Msg: testbedUsage}
	}
	if subnet != "" {
		p, err := netip.ParsePrefix(subnet)
		if err != nil {
			return &cli.UsageError{Msg: fmt.Sprintf("--subnet: %v", err)}
		}
		cfg.Subnet = p
	}
	cfg.Log = logger(env.Stderr, *debug, slog.LevelWarn)
	if os.Geteuid() != 0 {
		return errors.New("orbis testbed makes network namespaces and runs node agents: it needs root")
	}
	switch sub {
	case "up":
		_, err := testbed.Up(ctx, cfg)
		return err
	case "status":
		r, err := testbed.Status(ctx, cfg)
		if err != nil {
			return err
		}
		r.Print(env.Stdout, time.Now())
		return nil
	}
	r, err := testbed.Down(ctx, cfg)
	if err == nil || r != (testbed.Removed{}) {
		fmt.Fprintf(env.Stdout, "orbis testbed: down; removed %s\n", r)
	}
	return err
}
