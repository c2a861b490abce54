package install

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// Options say what to install and where.
type Options struct {
	Role Role
	// Root is the directory the machine's files are under: "/" on a
	// real machine, a temporary directory in tests. Under any other root
	// nothing is started: the unit is only written and enabled.
	Root string
	// Binary, DataDir and User are as in UnitOptions.
	Binary  string
	DataDir string
	User    string
	// Args are the flags of `orbis central|node` the unit passes.
	Args []string
	// Start starts the unit now (and restarts it when it runs).
	Start bool
	// Out receives what install did, one line a step.
	Out io.Writer
}

func (o *Options) path(p string) string { return filepath.Join(o.Root, p) }

// live reports whether install acts on the running machine, whose
// systemd it may ask to reload and start units.
func (o *Options) live() bool {
	if filepath.Clean(o.Root) != "/" {
		return false
	}
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

// Install writes the unit of o.Role and its settings file, creates
// central's user and data directory, and enables (and, with o.Start,
// starts) the unit. Running it again updates all of them.
func Install(ctx context.Context, o Options) error {
	if err := o.check(); err != nil {
		return err
	}
	uo := UnitOptions{Binary: o.Binary, DataDir: o.DataDir, User: o.User, LowPort: o.Role == Central && lowPort(o.Args)}
	if err := writeFile(o.path(o.Role.ConfigFile()), EnvFile(o.Role, o.Args), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "wrote %s\n", o.Role.ConfigFile())
	if err := o.makeDataDir(ctx); err != nil {
		return err
	}
	unit := filepath.Join(UnitDir, o.Role.UnitName())
	if err := writeFile(o.path(unit), Unit(o.Role, uo), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "wrote %s\n", unit)
	return o.enable(ctx)
}

func (o *Options) check() error {
	if _, err := ParseRole(string(o.Role)); err != nil {
		return err
	}
	if !filepath.IsAbs(o.Binary) {
		return fmt.Errorf("binary %q: want an absolute path", o.Binary)
	}
	if err := checkDataDir(o.DataDir); err != nil {
		return err
	}
	if o.Role == Central && underHome(o.DataDir) {
		return fmt.Errorf("data directory %s: central's unit hides /home, /root and /run/user (ProtectHome): choose another", o.DataDir)
	}
	if o.Role == Central && !validUser(o.User) {
		return fmt.Errorf("user %q: want a lower-case system user name", o.User)
	}
	if filepath.Clean(o.Root) == "/" && os.Geteuid() != 0 {
		return errors.New("installing a service needs root")
	}
	return CheckArgs(o.Role, o.Args)
}

// checkDataDir refuses a data directory install could not own safely:
// purge removes it whole.
func checkDataDir(dir string) error {
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return fmt.Errorf("data directory %q: want a clean absolute path", dir)
	}
	if strings.Count(dir, "/") < 2 || strings.ContainsAny(dir, " \t\n\"'\\$%`") {
		return fmt.Errorf("data directory %q: want a directory of its own, at least two levels deep, without spaces or quotes (like %s)", dir, DefaultCentralData)
	}
	return nil
}

func underHome(dir string) bool {
	for _, h := range []string{"/home", "/root", "/run/user"} {
		if dir == h || strings.HasPrefix(dir, h+"/") {
			return true
		}
	}
	return false
}

func validUser(u string) bool {
	if u == "" || len(u) > 32 || u[0] == '-' {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// makeDataDir makes the data directory: root's (0700) for the node,
// central's user's (0750) for central, which gets the user first.
func (o *Options) makeDataDir(ctx context.Context) error {
	dir := o.path(o.DataDir)
	if o.Role == Node {
		return os.MkdirAll(dir, 0o700)
	}
	if err := o.addUser(ctx); err != nil {
		return err
	}
	uid, gid, err := lookupUser(o.path("/etc/passwd"), o.User)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	// Central may have run as root from this directory before: hand its
	// files (the database, the CA's key) to the service's user.
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("hand %s to %s: %w", p, o.User, err)
		}
		return nil
	})
}

// addUser creates central's system user and group unless it exists.
func (o *Options) addUser(ctx context.Context) error {
	if _, _, err := lookupUser(o.path("/etc/passwd"), o.User); err == nil {
		return nil
	}
	if err := run(ctx, "useradd", o.prefixed(UserAddArgs(o.User, o.DataDir))...); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "created system user %s\n", o.User)
	return nil
}

// UserAddArgs are useradd's arguments that create central's system user
// (install's and the Debian package's).
func UserAddArgs(user, home string) []string {
	return []string{"--system", "--user-group", "--home-dir", home, "--no-create-home",
		"--shell", "/usr/sbin/nologin", "--comment", "Orbis-central", user}
}

// prefixed makes a shadow-utils command act on the files under o.Root.
func (o *Options) prefixed(args []string) []string {
	if filepath.Clean(o.Root) == "/" {
		return args
	}
	return append([]string{"--prefix", o.Root}, args...)
}

// enable enables the unit, and starts it when asked and systemd runs.
func (o *Options) enable(ctx context.Context) error {
	unit := o.Role.UnitName()
	if !o.live() {
		if err := run(ctx, "systemctl", "--root", o.Root, "enable", unit); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "enabled %s (systemd is not running under %s: not started)\n", unit, o.Root)
		return nil
	}
	if err := run(ctx, "systemctl", "daemon-reload"); err != nil {
		return err
	}
	if err := run(ctx, "systemctl", "enable", unit); err != nil {
		return err
	}
	if !o.Start {
		fmt.Fprintf(o.Out, "enabled %s; start it with: systemctl start %s\n", unit, unit)
		return nil
	}
	if err := run(ctx, "systemctl", "restart", unit); err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "started %s; its log: journalctl -u %s\n", unit, unit)
	return nil
}

// run runs a system command; its output goes into the error.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lookupUser finds a user's IDs in a passwd file.
func lookupUser(passwd, name string) (uid, gid int, err error) {
	f, err := os.Open(passwd)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 || fields[0] != name {
			continue
		}
		uid, err1 := strconv.Atoi(fields[2])
		gid, err2 := strconv.Atoi(fields[3])
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, fmt.Errorf("%s: user %s: %w", passwd, name, err)
		}
		return uid, gid, nil
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	return 0, 0, fmt.Errorf("%s: no user %s: %w", passwd, name, fs.ErrNotExist)
}

// writeFile replaces a file whole (a temporary file renamed over it), so
// a crash leaves the old or the new version, never half of one.
func writeFile(path, content string, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, []byte(content), mode)
}
