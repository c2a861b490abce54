package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/node/rm"
	"github.com/orbisproject/orbis/internal/node/swinstall"
)

// follow starts the node's resource manager, which follows central and
// creates the slivers it lists through the node manager's socket, as any
// broker would. A node registers once with a one-time token; later runs
// find its credentials in the state directory, so `orbis node` restarts
// without flags. It returns nil at once when the node follows no central.
// onList (nil: none) is told each sliver list the resource manager accepts.
func follow(ctx context.Context, cfg Config, slivers swinstall.Slivers, onList func(api.Slivers)) error {
	dir := filepath.Join(cfg.StateDir, "rm")
	creds, ok, err := rm.LoadCredentials(dir)
	if err != nil {
		return err
	}
	if cfg.Token != "" && (!ok || creds.Central != cfg.Central) {
		host := cfg.Hostname
		if host == "" {
			host, _ = os.Hostname()
		}
		trust, err := centralTrust(cfg)
		if err != nil {
			return err
		}
		creds, err = rm.Register(ctx, dir, cfg.Central, trust, api.NodeRegisterRequest{
			Token: cfg.Token, Hostname: host, IP: cfg.IP, Version: cfg.Version})
		if err != nil {
			return fmt.Errorf("register with central %s: %w", cfg.Central, err)
		}
		cfg.Log.Info("registered with central", "central", cfg.Central, "node_id", creds.NodeID)
	} else if !ok {
		if cfg.Central != "" {
			return fmt.Errorf("this node is not registered with %s: give it a token (`orbis nodes token HOST` at central)", cfg.Central)
		}
		return nil
	}
	go func() {
		err := rm.Run(ctx, rm.Options{Central: creds.Client(), NM: api.NewNMClient(cfg.NMSocket),
			StateDir: dir, Version: cfg.Version, Log: cfg.Log.With("part", "rm"), OnList: onList})
		if err != nil && ctx.Err() == nil {
			cfg.Log.Error("resource manager stopped", "err", err)
		}
	}()
	go func() {
		err := swinstall.Run(ctx, swinstall.Options{Central: creds.Client(), Slivers: slivers,
			StateDir: filepath.Join(cfg.StateDir, "software"), Log: cfg.Log.With("part", "software")})
		if err != nil && ctx.Err() == nil {
			cfg.Log.Error("software installer stopped", "err", err)
		}
	}()
	if cfg.upgrader != nil {
		go cfg.upgrader.run(ctx, creds.Client())
	}
	cfg.Log.Info("following central", "central", creds.Central, "node_id", creds.NodeID)
	return nil
}

// centralTrust is how the node verifies central when it registers,
// besides the CA hash its token may carry.
func centralTrust(cfg Config) (api.Trust, error) {
	t := api.Trust{InsecureHTTP: cfg.InsecureHTTP}
	switch cfg.CA {
	case "":
	case "system":
		t.System = true
	default:
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return t, fmt.Errorf("central's CA: %w", err)
		}
		t.CA = pem
	}
	return t, nil
}
