package node

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"strconv"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/sandbox"
)

// RegisterVerbs adds `orbis node` and `orbis sliver` to the command line.
func RegisterVerbs() {
	cli.Register(&cli.Command{Name: "node", Summary: "run the node agent (root)", Run: runNode})
	cli.Register(&cli.Command{Name: "sliver", Summary: "run a command in a sliver on this node (root)", Run: runSliver})
	cli.Register(&cli.Command{Name: "ports", Summary: "show who owns which port on this node (root)", Run: runPorts})
}

func nodeFlags(name string, stderr io.Writer) (*flag.FlagSet, *Config, *bool) {
	fs := flag.NewFlagSet("orbis "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &Config{}
	fs.StringVar(&cfg.StateDir, "state", "/var/lib/orbis", "state directory")
	fs.StringVar(&cfg.NMSocket, "nm-socket", api.NMSocket, "node manager socket")
	fs.StringVar(&cfg.DefaultImage, "image", "busybox", "default reference image of new slivers")
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", "orbis", "the node's top cgroup; slivers are below it")
	if name == "node" {
		fs.StringVar(&cfg.SSHAddr, "ssh-addr", DefaultSSHAddr, `SSH gateway address (":22" on a production node; "" disables it)`)
		fs.StringVar(&cfg.SensorAddr, "sensor-addr", DefaultSensorAddr, `sensor server address ("" disables it)`)
		fs.StringVar(&cfg.AuditAddr, "audit-addr", DefaultAuditAddr, `traffic auditor's pages (":80" on a production node; "" disables them)`)
		fs.StringVar(&cfg.Uplink, "uplink", "", `interface to shape (default: the default route's; "none": no shaping)`)
		fs.Func("sniff-group", "NFLOG group of the administrative sniffer (default 5; nodes sharing a network namespace need different ones)", func(v string) error {
			n, err := strconv.ParseUint(v, 10, 16)
			cfg.SniffGroup = uint16(n)
			return err
		})
		fs.StringVar(&cfg.PortScope, "port-scope", "machine", `who meets reserved ports: "machine" (every process) or "node" (this node's slivers only: several nodes on one machine)`)
		fs.StringVar(&cfg.Central, "central", "", "central's URL, e.g. https://plc.example.org:8780 (needed once, with --token)")
		fs.StringVar(&cfg.Token, "token", "", "one-time registration token from central (`orbis nodes token HOST`); it carries central's CA fingerprint, which the node pins")
		fs.StringVar(&cfg.CA, "ca", "", `central's CA certificate (PEM file) for a token without a CA fingerprint; "system": central's certificate is from a CA the system trusts`)
		fs.BoolVar(&cfg.InsecureHTTP, "insecure-http", false, "allow a plain http:// central that is not loopback: the node's secret and sliver list cross the network in clear")
		fs.StringVar(&cfg.Hostname, "hostname", "", "host name to register as (default: this machine's)")
		fs.StringVar(&cfg.IP, "ip", "", "IP address to register (default: none)")
		uintVar(fs, &cfg.UIDBase, "uid-base", "first host UID of slice ranges (0: 100000)")
		uintVar(fs, &cfg.UIDRanges, "uid-ranges", "how many slice UID ranges of 65536 to hand out (0: all that fit)")
		fs.StringVar(&cfg.PolicyPath, "policy", nodemgr.DefaultPolicyPath, `local policy file (bandwidth cap, max slivers, brokers' shares; "" for none)`)
		fs.BoolVar(&cfg.SuspendOnExit, "suspend-on-exit", false, "stop every sliver and remove its cgroups when the agent exits (leaves nothing in the kernel)")
	}
	debug := fs.Bool("debug", false, "log debug records")
	return fs, cfg, debug
}

// uintVar defines a flag for a uint32 field.
func uintVar(fs *flag.FlagSet, p *uint32, name, usage string) {
	fs.Func(name, usage, func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		*p = uint32(n)
		return err
	})
}

func logger(w io.Writer, debug bool) *slog.Logger {
	lvl := slog.LevelInfo
	if debug {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func runNode(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) > 0 && args[0] == "bwcap" {
		return runBwcap(ctx, env, args[1:])
	}
	fs, cfg, debug := nodeFlags("node", env.Stderr)
	if err := fs.Parse(args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	if os.Geteuid() != 0 {
		return errors.New("the node agent runs as root")
	}
	cfg.Log = logger(env.Stderr, *debug)
	return Run(ctx, *cfg)
}

// runSliver is `orbis sliver exec NAME -- CMD [ARGS]`: it runs a command as
// the sliver's root, with this terminal's standard streams, and exits with
// the command's status.
func runSliver(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) == 0 || args[0] != "exec" {
		return &cli.UsageError{Msg: "usage: orbis sliver exec [--state DIR] NAME -- CMD [ARGS...]"}
	}
	fs, cfg, debug := nodeFlags("sliver exec", env.Stderr)
	if err := fs.Parse(args[1:]); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	rest := fs.Args()
	if len(rest) < 2 || (rest[1] == "--" && len(rest) < 3) {
		return &cli.UsageError{Msg: "usage: orbis sliver exec [--state DIR] NAME -- CMD [ARGS...]"}
	}
	name, cmdArgs := rest[0], rest[1:]
	if cmdArgs[0] == "--" {
		cmdArgs = cmdArgs[1:]
	}
	cfg.Log = logger(env.Stderr, *debug)
	if !*debug {
		cfg.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	n, err := Open(ctx, *cfg)
	if err != nil {
		return err
	}
	defer n.Close()
	p, err := n.Slivers.Exec(ctx, name, sandbox.Cmd{Args: cmdArgs, Stdin: env.Stdin, Stdout: env.Stdout, Stderr: env.Stderr})
	if err != nil {
		return err
	}
	code, err := p.Wait()
	if err != nil {
		return err
	}
	if code != 0 {
		return &cli.ExitError{Code: code}
	}
	return nil
}
