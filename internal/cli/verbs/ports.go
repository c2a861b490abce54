package verbs

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/sliver"
)

// runPorts is `orbis ports`: who owns which port on this node, read from
// the port manager's pinned reservations map and the kernel's socket
// tables, without the node agent.
func runPorts(ctx context.Context, env *cli.Env, args []string) error {
	fs := flag.NewFlagSet("orbis ports", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	state := fs.String("state", "/var/lib/orbis", "state directory")
	pins := fs.String("pin-dir", filepath.Join(portmgr.DefaultPinDir, "orbis"), "the port manager's bpffs pin directory (DefaultPinDir/<cgroup parent>)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return &cli.UsageError{Msg: "usage: orbis ports [--state DIR] [--pin-dir DIR]"}
	}
	if os.Geteuid() != 0 {
		return errors.New("orbis ports reads the kernel's maps: run it as root")
	}
	es, err := portmgr.Snapshot(*pins, "/proc", uidResolver(filepath.Join(*state, "slivers")))
	if errors.Is(err, portmgr.ErrNotPinned) {
		fmt.Fprintf(env.Stderr, "orbis ports: no port manager state in %s: no reservations\n", *pins)
	} else if err != nil {
		return err
	}
	return portmgr.WriteTable(env.Stdout, es)
}

// uidResolver attributes host UIDs to slivers by the UID ranges in their
// specs under dir (the sliver runtime's state directory).
func uidResolver(dir string) func(uint32) (string, bool) {
	type uidRange struct {
		name        string
		base, count uint32
	}
	var ranges []uidRange
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "spec.json"))
		var s sliver.Spec
		if err == nil && json.Unmarshal(b, &s) == nil && s.UIDCount > 0 {
			ranges = append(ranges, uidRange{s.Name, s.UIDBase, s.UIDCount})
		}
	}
	return func(uid uint32) (string, bool) {
		for _, r := range ranges {
			if uid >= r.base && uid-r.base < r.count {
				return r.name, true
			}
		}
		return "", false
	}
}
