package verbs

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/cli"
)

// runAdmin is `orbis admin log [--state DIR]`: the admin service's
// action log, oldest first, as an aligned table.
func runAdmin(ctx context.Context, env *cli.Env, args []string) error {
	if len(args) == 0 || args[0] != "log" {
		return &cli.UsageError{Msg: "usage: orbis admin log [--state DIR]"}
	}
	fs := flag.NewFlagSet("orbis admin log", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	state := fs.String("state", "/var/lib/orbis", "state directory of the node")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		return &cli.UsageError{Msg: "usage: orbis admin log [--state DIR]"}
	}
	if os.Geteuid() != 0 {
		return errors.New("the admin action log is root's")
	}
	acts, err := admin.ReadActions(*state)
	if err != nil {
		return err
	}
	if len(acts) == 0 {
		fmt.Fprintln(env.Stdout, "no admin actions on this node")
		return nil
	}
	return admin.WriteActions(env.Stdout, acts)
}
