package central

import (
	"context"
	"flag"
	"log/slog"

	"github.com/orbisproject/orbis/internal/cli"
)

// RegisterVerbs adds `orbis central` to the command line.
func RegisterVerbs() {
	cli.Register(&cli.Command{Name: "central", Summary: "run central (PLC): PLCAPI, the JSON API and the nodes' channel", Run: runCentral})
}

func runCentral(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("orbis central", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var cfg Config
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8780", "address to listen on")
	fs.StringVar(&cfg.DataDir, "data", "/var/lib/orbis-central", "data directory (SQLite database, admin.json)")
	fs.StringVar(&cfg.DB, "db", "", "PostgreSQL URL (postgres://...); empty: SQLite in the data directory")
	fs.StringVar(&cfg.AdminEmail, "admin-email", "admin@localhost", "bootstrap admin created on first start (password in <data>/admin.json)")
	fs.Int64Var(&cfg.SiteShares, "site-shares", 0, "shares each site receives (0: the default, 1000)")
	fs.IntVar(&cfg.TrafficDays, "traffic-days", DefaultTrafficDays, "days the traffic archive keeps the nodes' traffic")
	fs.Int64Var(&cfg.TrafficMaxRows, "traffic-max-rows", DefaultTrafficMaxRows, "rows the traffic archive keeps at most (the oldest go first)")
	debug := fs.Bool("debug", false, "log debug records")
	if err := fs.Parse(args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	lvl := slog.LevelInfo
	if *debug {
		lvl = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: lvl}))
	return Run(ctx, cfg)
}
