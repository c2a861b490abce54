package install

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/orbisproject/orbis/internal/mountinfo"
)

// UninstallOptions say what to remove.
type UninstallOptions struct {
	Role Role
	// Root is as in Options.
	Root string
	// Purge also removes the data directory and central's user.
	Purge bool
	Out   io.Writer
}

// Uninstall stops and disables the unit of o.Role and removes it and its
// settings file. The data directory (central's database and CA, the
// node's slivers) stays unless o.Purge; a node's is never removed while
// it holds slivers.
func Uninstall(ctx context.Context, o UninstallOptions) error {
	if _, err := ParseRole(string(o.Role)); err != nil {
		return err
	}
	opt := Options{Role: o.Role, Root: o.Root, Out: o.Out}
	if filepath.Clean(o.Root) == "/" && os.Geteuid() != 0 {
		return errors.New("removing a service needs root")
	}
	unit := filepath.Join(UnitDir, o.Role.UnitName())
	facts, err := readUnit(opt.path(unit))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is not installed: no %s", o.Role.UnitName(), opt.path(unit))
	}
	if err != nil {
		return err
	}
	if o.Purge && o.Role == Node {
		// Refuse before anything is stopped.
		if err := checkNodeEmpty(opt.path(facts.dataDir)); err != nil {
			return err
		}
	}
	if err := opt.disable(ctx); err != nil {
		return err
	}
	for _, p := range []string{unit, o.Role.ConfigFile()} {
		if err := os.Remove(opt.path(p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		fmt.Fprintf(o.Out, "removed %s\n", p)
	}
	os.Remove(opt.path(ConfigDir)) // only when empty: the other role's file stays
	if opt.live() {
		if err := run(ctx, "systemctl", "daemon-reload"); err != nil {
			return err
		}
	}
	if !o.Purge {
		fmt.Fprintf(o.Out, "kept %s (remove it with --purge)\n", facts.dataDir)
		return nil
	}
	return opt.purge(ctx, facts)
}

func (o *Options) disable(ctx context.Context) error {
	unit := o.Role.UnitName()
	if !o.live() {
		return run(ctx, "systemctl", "--root", o.Root, "disable", unit)
	}
	if err := run(ctx, "systemctl", "disable", "--now", unit); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "stopped and disabled %s\n", unit)
	if o.Role == Node {
		fmt.Fprintln(o.Out, "running slivers keep running: `orbis install node` again adopts them")
	}
	return nil
}

// purge removes the data directory and central's user.
func (o *Options) purge(ctx context.Context, facts unitFacts) error {
	if err := checkDataDir(facts.dataDir); err != nil {
		return fmt.Errorf("not purging: %w", err)
	}
	if err := os.RemoveAll(o.path(facts.dataDir)); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "removed %s\n", facts.dataDir)
	if o.Role != Central || facts.user == "" {
		return nil
	}
	if _, _, err := lookupUser(o.path("/etc/passwd"), facts.user); err != nil {
		return nil
	}
	if err := run(ctx, "userdel", o.prefixed([]string{facts.user})...); err != nil {
		return err
	}
	// userdel leaves the group when login.defs does not say USERGROUPS_ENAB.
	if groupExists(o.path("/etc/group"), facts.user) {
		if err := run(ctx, "groupdel", o.prefixed([]string{facts.user})...); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "removed system user %s\n", facts.user)
	return nil
}

// checkNodeEmpty refuses to purge a node's state while it keeps slivers
// or anything is mounted under it: removing it would cut through the
// slivers' files.
func checkNodeEmpty(state string) error {
	ents, err := os.ReadDir(filepath.Join(state, "slivers"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(ents) > 0 {
		return fmt.Errorf("not purging: the node still has %d sliver(s) in %s; delete their slices at central (or uninstall without --purge)", len(ents), filepath.Join(state, "slivers"))
	}
	busy, err := mountinfo.PointsUnder(filepath.Clean(state))
	if err != nil {
		return err
	}
	if len(busy) > 0 {
		return fmt.Errorf("not purging: %s is mounted under the node's state; stop the node's slivers first", busy[0])
	}
	return nil
}

// unitFacts are what uninstall reads back from an installed unit.
type unitFacts struct {
	dataDir string
	user    string
}

// readUnit reads the data directory (the value of --data or --state on
// ExecStart) and User= of a unit install wrote.
func readUnit(path string) (unitFacts, error) {
	f, err := os.Open(path)
	if err != nil {
		return unitFacts{}, err
	}
	defer f.Close()
	var u unitFacts
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "User="); ok {
			u.user = v
		}
		if v, ok := strings.CutPrefix(line, "ExecStart="); ok {
			w := strings.Fields(v)
			for i := 0; i+1 < len(w); i++ {
				if w[i] == "--data" || w[i] == "--state" {
					u.dataDir = w[i+1]
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return unitFacts{}, err
	}
	if u.dataDir == "" {
		return unitFacts{}, fmt.Errorf("%s: no data directory on ExecStart: not a unit orbis install wrote", path)
	}
	return u, nil
}

func groupExists(group, name string) bool {
	b, err := os.ReadFile(group)
	return err == nil && strings.Contains("\n"+string(b), "\n"+name+":")
}
