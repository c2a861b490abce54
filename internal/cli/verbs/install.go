package verbs

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/install"
)

const installUsage = `usage: orbis install central|node [FLAGS] [-- FLAGS OF orbis central|node]

Writes /etc/systemd/system/orbis-ROLE.service and /etc/orbis/ROLE.env
(ORBIS_ARGS: the flags after --), then enables and starts the service.
  orbis install central -- --addr :8780 --tls-san plc.example.org
  orbis install node -- --central https://plc.example.org:8780 --token TOKEN

`

func runInstall(ctx context.Context, env *cli.Env, args []string) error {
	role, rest, err := roleArg("install", args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("orbis install "+string(role), flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, installUsage); fs.PrintDefaults() }
	o := install.Options{Role: role, Out: env.Stdout}
	fs.StringVar(&o.Root, "root", "/", "directory the machine's files are under (tests); under any other than / nothing is started")
	defData := install.DefaultCentralData
	if role == install.Node {
		defData = install.DefaultNodeState
	}
	fs.StringVar(&o.DataDir, "data", defData, "data directory of the service (central's --data, the node's --state)")
	fs.StringVar(&o.User, "user", install.DefaultUser, "system user central runs as, created if missing (the node agent runs as root)")
	fs.StringVar(&o.Binary, "bin", "", "the orbis binary the service runs (default: this one; static helpers such as ping-orbis sit beside it)")
	noStart := fs.Bool("no-start", false, "write and enable the service without starting it")
	if err := fs.Parse(rest); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	o.Start = !*noStart
	o.Args = fs.Args()
	if role == install.Central && len(o.Args) == 0 {
		o.Args = []string{"--addr", ":8780"}
	}
	if o.Binary == "" {
		if o.Binary, err = thisBinary(); err != nil {
			return err
		}
	}
	if err := install.CheckArgs(role, o.Args); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	return install.Install(ctx, o)
}

func runUninstall(ctx context.Context, env *cli.Env, args []string) error {
	role, rest, err := roleArg("uninstall", args)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("orbis uninstall "+string(role), flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	o := install.UninstallOptions{Role: role, Out: env.Stdout}
	fs.StringVar(&o.Root, "root", "/", "directory the machine's files are under (tests)")
	fs.BoolVar(&o.Purge, "purge", false, "also remove the data directory (central's database and CA; the node's state, refused while it has slivers) and central's user")
	if err := fs.Parse(rest); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &cli.UsageError{Msg: fmt.Sprintf("orbis uninstall %s: unexpected %q", role, fs.Arg(0))}
	}
	return install.Uninstall(ctx, o)
}

func roleArg(verb string, args []string) (install.Role, []string, error) {
	if len(args) == 0 {
		return "", nil, &cli.UsageError{Msg: fmt.Sprintf("usage: orbis %s central|node [FLAGS]", verb)}
	}
	role, err := install.ParseRole(args[0])
	if err != nil {
		return "", nil, &cli.UsageError{Msg: fmt.Sprintf("orbis %s: %v", verb, err)}
	}
	return role, args[1:], nil
}

// thisBinary is the running orbis binary's real path.
func thisBinary() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find this binary: %w", err)
	}
	return filepath.EvalSymlinks(exe)
}
