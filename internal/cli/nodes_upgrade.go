package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/orbisproject/orbis/api"
)

// `orbis nodes upgrade --binary PATH [--nodes H1,H2|--percent N]` publishes
// a node agent build at central, which signs it; the nodes it is offered to
// fetch it, check the signature, replace their agent and re-execute it,
// rolling back if the new agent does not become healthy.

var nodesUpgradeSub = &centralSub{
	name:  "upgrade",
	usage: "upgrade --binary PATH [--nodes H1,H2|--percent N] [--version V] [--arch A]",
	setup: func(fs *flag.FlagSet) func(context.Context, *centralCall) error {
		bin := fs.String("binary", "", "the node agent build (an orbis binary from make build)")
		nodes := fs.String("nodes", "", "comma-separated host names of the nodes to upgrade (default: every node)")
		percent := fs.Int("percent", 0, "upgrade this percent of the nodes, 1-100 (default: every node)")
		version := fs.String("version", "", "the build's version (default: what `PATH version` prints)")
		arch := fs.String("arch", "", "the build's architecture, e.g. amd64 (default: read from the binary)")
		return func(ctx context.Context, c *centralCall) error {
			return nodesUpgrade(ctx, c, *bin, *nodes, *percent, *version, *arch)
		}
	},
}

func nodesUpgrade(ctx context.Context, c *centralCall, bin, nodes string, percent int, version, arch string) error {
	if bin == "" {
		return &UsageError{Msg: "orbis nodes upgrade: --binary PATH is needed"}
	}
	if nodes != "" && percent != 0 {
		return &UsageError{Msg: "orbis nodes upgrade: give --nodes or --percent, not both"}
	}
	if percent < 0 || percent > 100 {
		return &UsageError{Msg: fmt.Sprintf("orbis nodes upgrade: --percent %d: want 1 to 100", percent)}
	}
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if arch == "" {
		if arch, err = api.ELFArch(f); err != nil {
			return fmt.Errorf("%s is %w", bin, err)
		}
	}
	if version == "" {
		if version, err = buildVersion(ctx, bin); err != nil {
			return err
		}
	}
	var hosts []string
	if nodes != "" {
		hosts = strings.Split(nodes, ",")
	}
	u, err := c.client.PublishUpgrade(ctx, version, arch, f, st.Size(), hosts, percent)
	if err != nil || c.json {
		return printOr(c, u, err)
	}
	target := "every node"
	switch {
	case len(hosts) > 0:
		target = strings.Join(hosts, ", ")
	case percent > 0:
		target = fmt.Sprintf("%d%% of the nodes", percent)
	}
	_, err = fmt.Fprintf(c.env.Stdout, "published %s (%s, %d bytes, sha256 %s) for %s: `orbis nodes list` shows each node's version\n",
		u.Version, u.Arch, u.Size, u.SHA256, target)
	return err
}

// buildVersion asks the build its version (`PATH version` prints "orbis
// VERSION (...)").
func buildVersion(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 2 || f[0] != "orbis" {
		return "", fmt.Errorf("cannot tell the version of %s (%v): give --version", bin, err)
	}
	return f[1], nil
}
