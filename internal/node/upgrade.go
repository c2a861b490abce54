package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/atomicfile"
)

// Upgrades from central. The agent asks central for the build offered to
// it, reporting its own version, in a call central holds until the offer
// changes (after a failure, UpgradeCheck later). An offered build
// whose SHA-256 differs from the running agent's is checked (central's
// signature, kept key, architecture, size, SHA-256, ELF) and written
// beside the agent's own executable, which it then replaces atomically,
// keeping the old one as <exe>.prev. The agent then stops (slivers keep
// running, as at any restart) and, still as the same process, supervises
// a trial of the new agent: the trial must answer on the node manager
// socket and reach central within UpgradeHealthTimeout. If it does, the
// trial is stopped and the process re-executes the new agent (same PID,
// for systemd); if not, the old executable is put back, the build is
// remembered as refused, and the process re-executes the old agent.

// Defaults of the upgrade flags.
const (
	DefaultUpgradeCheck         = time.Minute
	DefaultUpgradeHealthTimeout = time.Minute
)

// upgradeHealthEnv names the file a trial agent writes once it reached
// central: the supervising agent sets it.
const upgradeHealthEnv = "ORBIS_UPGRADE_HEALTH"

// maxBuild bounds what a node downloads, whatever central signed.
const maxBuild = 1 << 30

// Run opens the node and serves its node manager until ctx is done, or
// until an upgrade is installed: then it supervises the new agent's trial
// and re-executes this process as the new agent or, if the trial failed,
// as the old one (see above). A start-up that fails returns why and
// leaves nothing half-made.
func Run(ctx context.Context, cfg Config) error {
	cfg.defaults()
	if cfg.NoUpgrade {
		return runAgent(ctx, cfg)
	}
	if os.Getenv(upgradeHealthEnv) != "" {
		// A trial is stopped by its supervisor, which re-executes the
		// agent: the slivers go on.
		cfg.SuspendOnExit = false
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	up, err := newUpgrader(cfg, stop)
	if err != nil {
		return err
	}
	if os.Getenv(upgradeHealthEnv) == "" {
		if err := up.checkProbation(); err != nil {
			return err
		}
	}
	cfg.upgrader = up
	err = runAgent(runCtx, cfg)
	if !up.installed() {
		return err
	}
	if ctx.Err() != nil {
		// Stopped before the trial: the next start runs the agent that
		// ran, and the build is tried again then.
		return errors.Join(err, up.restore())
	}
	return up.supervise(ctx)
}

// upgrader checks for, installs and supervises upgrades of the agent.
type upgrader struct {
	log *slog.Logger
	// exe is the agent's own executable (os.Executable at start) and self
	// its SHA-256.
	exe, self string
	// version is the agent's version, which it reports with each check.
	version string
	// dir keeps central's public key, the refused builds and the health
	// file.
	dir           string
	nmSocket      string
	check, health time.Duration
	// args and exec re-execute the agent (tests replace them).
	args []string
	exec func(path string, args, env []string) error
	// stop ends the agent's run so that the upgrade can proceed.
	stop context.CancelFunc
	// started is when this agent started (see endProbation).
	started time.Time

	// mu guards the following.
	mu      sync.Mutex
	pending *api.Upgrade // installed, waiting for its trial
	healthy bool         // the trial's health file is written
}

// newUpgrader returns the upgrader of the agent of cfg.
func newUpgrader(cfg Config, stop context.CancelFunc) (*upgrader, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return nil, fmt.Errorf("the agent's own executable: %w", err)
	}
	u := &upgrader{log: cfg.Log.With("part", "upgrade"), exe: exe, version: cfg.Version, dir: filepath.Join(cfg.StateDir, "upgrade"),
		nmSocket: cfg.NMSocket, check: cfg.UpgradeCheck, health: cfg.UpgradeHealthTimeout,
		args: os.Args, exec: unix.Exec, stop: stop}
	if u.check <= 0 {
		u.check = DefaultUpgradeCheck
	}
	if u.health <= 0 {
		u.health = DefaultUpgradeHealthTimeout
	}
	if u.self, err = fileSHA256(exe); err != nil {
		return nil, fmt.Errorf("the agent's own executable: %w", err)
	}
	u.started = time.Now()
	return u, nil
}

// run checks for an upgrade at once, then waits for central to offer
// another build (a call central holds until the offer changes, so a
// publish reaches the node within a second), until ctx is done or an
// upgrade is installed. After an error, or from a central that answers a
// waiting call at once with the same offer (one that does not hold it),
// it waits u.check before asking again.
func (u *upgrader) run(ctx context.Context, c *api.NodeClient) {
	have, wait := "", false
	for {
		start := time.Now()
		offered, err := u.poll(ctx, c, have, wait)
		if err != nil && ctx.Err() == nil {
			u.log.Error("upgrade", "err", err)
		}
		if u.installed() {
			u.stop()
			return
		}
		waited := wait
		held := waited && (offered != have || time.Since(start) >= time.Second)
		have, wait = offered, err == nil
		if err == nil && (held || !waited) {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(u.check):
		}
	}
}

func (u *upgrader) installed() bool {
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pending != nil
}

// checkOnce reports the agent's version, and installs the build central
// offers if it is new, valid and not refused before.
func (u *upgrader) checkOnce(ctx context.Context, c *api.NodeClient) error {
	_, err := u.poll(ctx, c, "", false)
	return err
}

// poll is checkOnce, with wait a call that central holds until the build
// it offers is not have; it returns the SHA-256 of the build offered.
func (u *upgrader) poll(ctx context.Context, c *api.NodeClient, have string, wait bool) (string, error) {
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return have, err
	}
	var b api.Upgrade
	var ok bool
	var err error
	if wait {
		b, ok, err = c.WaitUpgrade(ctx, u.version, have)
	} else {
		b, ok, err = c.Upgrade(ctx, u.version)
	}
	if err != nil {
		return have, err
	}
	return b.SHA256, u.consider(ctx, c, b, ok)
}

// consider installs the offered build b if it is new, valid and not
// refused before.
func (u *upgrader) consider(ctx context.Context, c *api.NodeClient, b api.Upgrade, ok bool) error {
	u.markHealthy()
	if os.Getenv(upgradeHealthEnv) == "" {
		u.endProbation(u.started)
	}
	if !ok || strings.EqualFold(b.SHA256, u.self) || u.refused(b.SHA256) {
		return nil
	}
	if err := u.verify(b); err != nil {
		return fmt.Errorf("refused build %s (%s): %w", b.Version, b.SHA256, err)
	}
	u.log.Info("installing upgrade", "version", b.Version, "sha256", b.SHA256, "exe", u.exe)
	if err := u.install(ctx, c, b); err != nil {
		return fmt.Errorf("install build %s: %w", b.Version, err)
	}
	u.mu.Lock()
	u.pending = &b
	u.mu.Unlock()
	return nil
}

// markHealthy writes the trial's health file, if this agent is a trial.
func (u *upgrader) markHealthy() {
	p := os.Getenv(upgradeHealthEnv)
	u.mu.Lock()
	defer u.mu.Unlock()
	if p == "" || u.healthy {
		return
	}
	if err := os.WriteFile(p, []byte("ok\n"), 0o600); err != nil {
		u.log.Error("upgrade health file", "err", err)
		return
	}
	u.healthy = true
}

// verify checks what central says of the build: signed by the key the node
// keeps (the first it got over the pinned channel), for this machine, of a
// size the node takes.
func (u *upgrader) verify(b api.Upgrade) error {
	key, err := u.centralKey(b.PublicKey)
	if err != nil {
		return err
	}
	if !api.VerifyUpgrade(b, key) {
		return errors.New("its signature is not central's")
	}
	if b.Arch != runtime.GOARCH {
		return fmt.Errorf("it is for %s, this node is %s", b.Arch, runtime.GOARCH)
	}
	if b.Size <= 0 || b.Size > maxBuild {
		return fmt.Errorf("size %d: want 1 to %d bytes", b.Size, maxBuild)
	}
	return nil
}

// centralKey returns the key the node keeps, keeping offered if it keeps
// none yet.
func (u *upgrader) centralKey(offered []byte) (ed25519.PublicKey, error) {
	p := filepath.Join(u.dir, "central.pub")
	data, err := os.ReadFile(p)
	if err == nil {
		key, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("central's upgrade key %s: not a hex Ed25519 key", p)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("central's upgrade key: %w", err)
	}
	if len(offered) != ed25519.PublicKeySize {
		return nil, errors.New("central sent no upgrade key")
	}
	if err := atomicfile.WriteFile(p, []byte(hex.EncodeToString(offered)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keep central's upgrade key: %w", err)
	}
	u.log.Info("keeping central's upgrade key", "file", p)
	return offered, nil
}

// install fetches the build beside the agent's executable, checks it, and
// replaces the executable with it, keeping the old one as <exe>.prev.
func (u *upgrader) install(ctx context.Context, c *api.NodeClient, b api.Upgrade) (err error) {
	os.Remove(u.exe + ".new") // left by an agent of an older version that stopped half way
	tmp, err := atomicfile.Create(u.exe, 0o755)
	if err != nil {
		return err
	}
	defer tmp.Close()
	h := sha256.New()
	if err := c.UpgradeBinary(ctx, b.SHA256, b.Size, io.MultiWriter(tmp, h)); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, b.SHA256) {
		return fmt.Errorf("the binary's SHA-256 is %s, not the signed %s", got, b.SHA256)
	}
	if err := api.CheckELF(tmp, runtime.GOARCH); err != nil {
		return err
	}
	prev := u.exe + ".prev"
	if err := os.Remove(prev); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Link(u.exe, prev); err != nil {
		return fmt.Errorf("keep the previous agent: %w", err)
	}
	return tmp.Commit()
}

// refusedFile lists the builds that failed their trial, one SHA-256 a
// line; they are not tried again.
func (u *upgrader) refusedFile() string { return filepath.Join(u.dir, "refused") }

func (u *upgrader) refused(sha string) bool {
	data, _ := os.ReadFile(u.refusedFile())
	return slices.Contains(strings.Fields(string(data)), strings.ToLower(sha))
}

// supervise runs the trial of the installed build and re-executes the
// agent: the new one if the trial became healthy, else the old one, put
// back. It returns only if it cannot re-execute.
func (u *upgrader) supervise(ctx context.Context) error {
	b := u.pending
	ok, err := u.trial(ctx)
	if err != nil || !ok {
		u.log.Error("upgrade trial failed: rolling back", "version", b.Version, "err", err)
		if err := u.rollback(b.SHA256); err != nil {
			return fmt.Errorf("roll back upgrade: %w", err)
		}
	} else {
		u.log.Info("upgrade trial healthy: re-executing", "version", b.Version)
		if err := u.startProbation(b.SHA256); err != nil {
			return fmt.Errorf("upgrade probation: %w", err)
		}
	}
	return u.reexec()
}

// restore puts the previous agent back.
func (u *upgrader) restore() error {
	if err := os.Rename(u.exe+".prev", u.exe); err != nil {
		return fmt.Errorf("put the previous agent back: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(u.exe))
}

// rollback refuses the build for good and puts the previous agent back.
func (u *upgrader) rollback(sha string) error {
	f, err := os.OpenFile(u.refusedFile(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(f, strings.ToLower(sha))
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return err
	}
	return u.restore()
}

// reexec replaces this process with the agent now at u.exe, with the
// same arguments.
func (u *upgrader) reexec() error {
	env := slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, upgradeHealthEnv+"=") })
	return u.exec(u.exe, u.args, env)
}

// fileSHA256 returns the hex SHA-256 of the file at p.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
