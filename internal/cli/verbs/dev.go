package verbs

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/dev"
	"github.com/orbisproject/orbis/internal/node"
)

func runDev(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("orbis dev", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	host, _ := os.Hostname()
	cfg := dev.Config{Out: env.Stdout, Version: cli.Version}
	fs.StringVar(&cfg.DataDir, "data", "/var/lib/orbis-dev", "state of central and the node (kept across runs)")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8780", "central's address: loopback only, as dev serves plain HTTP")
	fs.StringVar(&cfg.SSHAddr, "ssh-addr", node.DefaultSSHAddr, "the node's SSH gateway address")
	fs.StringVar(&cfg.SensorAddr, "sensor-addr", node.DefaultSensorAddr, "the node's sensor server address")
	fs.StringVar(&cfg.AuditAddr, "audit-addr", node.DefaultAuditAddr, "the node's traffic auditor pages")
	fs.StringVar(&cfg.NMSocket, "nm-socket", api.NMSocket, "the node manager's socket")
	fs.StringVar(&cfg.Hostname, "hostname", host, "the node's name at central")
	fs.StringVar(&cfg.CgroupParent, "cgroup-parent", "orbis", "the node's top cgroup")
	fs.StringVar(&cfg.Uplink, "uplink", "none", `interface whose traffic the node shapes ("none": leave this machine's traffic alone)`)
	sniffGroupFlag(fs, &cfg.SniffGroup)
	debug := fs.Bool("debug", false, "log debug records")
	if err := fs.Parse(args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	if os.Geteuid() != 0 {
		return errors.New("orbis dev runs the node agent, which needs root")
	}
	cfg.Log = logger(env.Stderr, *debug, slog.LevelWarn)
	return dev.Run(ctx, cfg)
}
