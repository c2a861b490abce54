package sliver

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// Create makes the sliver of spec, not yet running: its state directory,
// its quota'd writable layer, its cgroups, the overlay's directories and
// the slice's keys and boot script. Creating a sliver that exists makes it
// match spec, so a Create cut short by a crash is finished by running it
// again. The spec is stored before any kernel state is set up: an agent
// that restarts after a crash finds (Restore), and a rollback removes,
// the kernel state of every sliver whose spec it reads.
func (m *Manager) Create(ctx context.Context, spec Spec) (err error) {
	if err := CheckName(spec.Name); err != nil {
		return err
	}
	defer m.lock(spec.Name)()
	log := m.opts.Log.With("slice", spec.Name)
	if err := os.MkdirAll(m.dir(spec.Name), 0o700); err != nil {
		return fmt.Errorf("create sliver: %w", err)
	}
	if err := m.writeSpec(spec); err != nil {
		return err
	}
	// A bind starts the sliver next: its init's entry into its cgroups
	// finds the attach lock warm.
	if err := m.apply(ctx, spec, m.warmAttach); err != nil {
		return fmt.Errorf("create sliver %s: %w", spec.Name, err)
	}
	log.Info("sliver created", "uid_base", spec.UIDBase, "image", m.imageName(spec))
	return nil
}

// Update gives an existing sliver new limits, keys and boot script. The new
// keys and every limit that can be set hold at once; a changed boot script
// runs at the next start. A limit or reservation the node cannot apply now
// (a disk limit below what the sliver uses, a port another holds) does not
// keep the rest from applying: Update returns an error wrapping
// ErrPartlyApplied, and the sliver's status says what is not in force
// until an Update applies it. A sliver whose shares (Options.Shares)
// change is restarted if it has processes, since a running sliver's mounts
// are fixed at its start.
func (m *Manager) Update(ctx context.Context, spec Spec) error {
	if err := CheckName(spec.Name); err != nil {
		return err
	}
	defer m.lock(spec.Name)()
	old, err := m.readSpec(spec.Name)
	if err != nil {
		return err
	}
	if old.UIDBase != spec.UIDBase || old.UIDCount != spec.UIDCount {
		return fmt.Errorf("update sliver %s: its UID range cannot change", spec.Name)
	}
	if err := m.writeSpec(spec); err != nil {
		return err
	}
	err = m.apply(ctx, spec, nil)
	m.noteApply(spec.Name, err)
	if err != nil {
		return fmt.Errorf("update sliver %s: %w: %w", spec.Name, ErrPartlyApplied, err)
	}
	if slices.Equal(m.shares(old), m.shares(spec)) {
		return nil
	}
	return m.restartLocked(ctx, spec)
}

// restartLocked stops a sliver that has processes and starts it again, so
// that a new init mounts its shares; a sliver that is stopped, idle or
// never started gets them at its next start anyway.
func (m *Manager) restartLocked(ctx context.Context, spec Spec) error {
	name := spec.Name
	if m.marker(name, stoppedFile) || !m.marker(name, startedFile) {
		return nil
	}
	if procs, err := m.cgroupsOf(spec).Procs(name); err != nil || len(procs) == 0 {
		return nil // idle: the next login or start makes a new init
	}
	m.opts.Log.Info("sliver's shares changed: restarting it", "slice", name)
	if err := m.stopLocked(ctx, name); err != nil {
		return fmt.Errorf("restart sliver %s: %w", name, err)
	}
	return m.startLocked(ctx, name)
}

// apply brings the cgroups, network state, disk, overlay directories and
// files of the sliver in line with spec. Every step is idempotent, and
// one that fails does not keep the others from running: the caller has
// stored spec, whose keys are the only ones the SSH gateway trusts, and a
// sliver must not keep its old limits because one of them (or a port it
// holds) cannot change now. The files written into the sliver come last,
// and what goes wrong there (the sliver owns those paths and may have
// planted anything) is noted in the sliver's status, not returned: it
// must never keep a sliver on its old limits, nor undo a revoked key.
// cgroupsSet, if not nil, is called once the cgroups are set.
func (m *Manager) apply(ctx context.Context, spec Spec, cgroupsSet func()) error {
	var errs []error
	if spec.Rspec.DiskMax > 0 && !m.opts.Disk.Enforces() {
		errs = append(errs, fmt.Errorf("disk_max: %w", m.diskUnsupported()))
	}
	if err := m.setCgroups(ctx, spec); err != nil {
		errs = append(errs, err)
	}
	if cgroupsSet != nil {
		cgroupsSet()
	}
	if m.opts.Network != nil {
		if err := m.opts.Network.SetSliver(ctx, m.netSliver(spec)); err != nil {
			errs = append(errs, err)
		}
	}
	diskDir, err := m.opts.Disk.Create(spec.Name, spec.Rspec.DiskMax)
	if err != nil {
		errs = append(errs, fmt.Errorf("disk_max: %w", err))
		if diskDir, err = m.opts.Disk.Dir(spec.Name); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	cfg, err := m.sandboxConfig(spec, diskDir)
	if err == nil {
		err = sandbox.Prepare(cfg)
	}
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	m.noteFiles(spec.Name, sandbox.InstallFiles(ctx, cfg, Files(spec)))
	return errors.Join(errs...)
}

// noteApply records what of the sliver's spec the last Update could not
// apply (nil: all of it) for Status.
func (m *Manager) noteApply(name string, problems error) {
	if problems != nil {
		problems = fmt.Errorf("update not in force: %w", problems)
	}
	m.note(name, applyFile, "sliver update", problems)
}

// maxNote bounds a note of a sliver's problems.
const maxNote = 2048

// noteFiles records the problems of the last install of the sliver's
// files (nil: none) for Status.
func (m *Manager) noteFiles(name string, problems error) {
	m.note(name, filesFile, "sliver files", problems)
}

// note records problems (nil: none), bounded, in the sliver's host-only
// state directory file, for Status; what is logged as what.
func (m *Manager) note(name, file, what string, problems error) {
	p := filepath.Join(m.dir(name), file)
	if problems == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			m.opts.Log.Error("clear sliver note", "slice", name, "note", file, "err", err)
		}
		return
	}
	note := strings.ReplaceAll(problems.Error(), "\n", "; ")
	if len(note) > maxNote {
		note = note[:maxNote] + "..."
	}
	m.opts.Log.Warn(what, "slice", name, "problems", note)
	if err := os.WriteFile(p, []byte(note), 0o600); err != nil {
		m.opts.Log.Error("note sliver problems", "slice", name, "note", file, "err", err)
	}
}

// readNote is the note left in file, "" if none.
func (m *Manager) readNote(name, file string) string {
	b, err := os.ReadFile(filepath.Join(m.dir(name), file))
	if err != nil {
		return ""
	}
	return string(b)
}

// setKernel applies the sliver's cgroups and network state, which live in
// the kernel and so vanish with a reboot.
func (m *Manager) setKernel(ctx context.Context, spec Spec) error {
	if err := m.setCgroups(ctx, spec); err != nil {
		return err
	}
	if m.opts.Network == nil {
		return nil
	}
	return m.opts.Network.SetSliver(ctx, m.netSliver(spec))
}

func (m *Manager) diskUnsupported() error {
	return fmt.Errorf("this node cannot enforce disk limits (%s)", m.opts.Disk.Kind())
}

// config returns the spec and sandbox of an existing sliver.
func (m *Manager) config(name string) (Spec, sandbox.Config, error) {
	spec, err := m.readSpec(name)
	if err != nil {
		return spec, sandbox.Config{}, err
	}
	diskDir, err := m.opts.Disk.Dir(name)
	if err != nil {
		return spec, sandbox.Config{}, err
	}
	cfg, err := m.sandboxConfig(spec, diskDir)
	return spec, cfg, err
}

// bootCommand runs the slice's boot script, the paper's rc.vinit, with
// its output appended to a log inside the sliver, which the slice can read
// and whose size the sliver's own disk quota bounds.
const bootCommand = `exec >>` + BootLog + ` 2>&1 </dev/null
echo "== orbis: boot $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if [ -f ` + BootScript + ` ]; then /bin/sh ` + BootScript + `; echo "== orbis: boot script exited with status $?"; fi`

// Paths inside the sliver.
const (
	BootScript = "/etc/rc.vinit"
	BootLog    = "/var/log/orbis-boot.log"
)

// Start starts the sliver and runs its boot script. It returns once the
// script has started; the sliver keeps running after the caller is gone.
func (m *Manager) Start(ctx context.Context, name string) error {
	defer m.lock(name)()
	return m.startLocked(ctx, name)
}

func (m *Manager) startLocked(ctx context.Context, name string) error {
	m.warmAttach()
	_, cfg, err := m.config(name)
	if err != nil {
		return err
	}
	if err := m.setMarker(name, stoppedFile, false); err != nil {
		return fmt.Errorf("start sliver: %w", err)
	}
	if err := m.setMarker(name, startedFile, true); err != nil {
		return fmt.Errorf("start sliver: %w", err)
	}
	p, err := sandbox.Start(ctx, cfg, sandbox.Cmd{Args: []string{"/bin/sh", "-c", bootCommand}}, m.opts.Log)
	if err != nil {
		return fmt.Errorf("start sliver %s: %w", name, err)
	}
	go p.Wait() // reap our end; the sliver's init owns the script
	m.opts.Log.Info("sliver started", "slice", name, "init", p.Pid)
	return nil
}

// Exec runs cmd in the sliver, starting the sliver's init if it has none
// (an idle sliver). A stopped sliver refuses.
func (m *Manager) Exec(ctx context.Context, name string, cmd sandbox.Cmd) (*sandbox.Process, error) {
	_, cfg, err := m.config(name)
	if err != nil {
		return nil, err
	}
	if m.marker(name, stoppedFile) {
		return nil, fmt.Errorf("sliver %s: %w", name, ErrStopped)
	}
	return sandbox.Start(ctx, cfg, cmd, m.opts.Log)
}

// Stop kills every process of the sliver and marks it stopped. Its files
// stay; Start brings it back.
func (m *Manager) Stop(ctx context.Context, name string) error {
	defer m.lock(name)()
	return m.stopLocked(ctx, name)
}

func (m *Manager) stopLocked(ctx context.Context, name string) error {
	_, cfg, err := m.config(name)
	if err != nil {
		return err
	}
	if err := m.setMarker(name, stoppedFile, true); err != nil {
		return fmt.Errorf("stop sliver: %w", err)
	}
	if err := m.setMarker(name, startedFile, false); err != nil {
		return fmt.Errorf("stop sliver: %w", err)
	}
	if err := sandbox.Stop(ctx, cfg); err != nil {
		return err
	}
	if m.opts.RunDir != "" {
		// No init runs now: leave an earlier version's run directory.
		os.RemoveAll(filepath.Join(m.dir(name), runDir))
	}
	// A process that escaped the init's PID namespace cannot escape its
	// cgroup: kill what is left there too.
	return m.killCgroups(ctx, name)
}

// Destroy removes the sliver and everything it owns. Destroying a sliver
// that does not exist, or exists only in part, succeeds.
func (m *Manager) Destroy(ctx context.Context, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	defer m.lock(name)()
	if err := m.stopLocked(ctx, name); err != nil && !errors.Is(err, ErrNotFound) {
		m.opts.Log.Warn("destroy: stop", "slice", name, "err", err)
	}
	if m.opts.Network != nil {
		if err := m.opts.Network.RemoveSliver(ctx, name); err != nil {
			return fmt.Errorf("destroy sliver %s: %w", name, err)
		}
	}
	if err := m.removeCgroups(ctx, name); err != nil {
		return fmt.Errorf("destroy sliver %s: %w", name, err)
	}
	if err := m.opts.Disk.Remove(name); err != nil {
		return fmt.Errorf("destroy sliver %s: %w", name, err)
	}
	for _, dir := range []string{m.runDir(name), m.dir(name)} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("destroy sliver %s: %w", name, err)
		}
	}
	m.mu.Lock()
	delete(m.guarantees, name) // a nil index has nothing to delete
	delete(m.uids, name)
	m.mu.Unlock()
	m.opts.Log.Info("sliver destroyed", "slice", name)
	return nil
}

// Status reports the sliver's state and process count, and as its
// reason what went wrong when the node last wrote the sliver's files.
func (m *Manager) Status(ctx context.Context, name string) (Status, error) {
	st := Status{Name: name}
	spec, err := m.readSpec(name)
	if err != nil {
		return st, err
	}
	procs, err := m.cgroupsOf(spec).Procs(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	st.Procs = len(procs)
	var notes []string
	for _, f := range []string{applyFile, filesFile} {
		if n := m.readNote(name, f); n != "" {
			notes = append(notes, n)
		}
	}
	st.Reason = strings.Join(notes, "; ")
	switch {
	case m.marker(name, stoppedFile):
		st.State = StateStopped
	case st.Procs > 0:
		st.State = StateRunning
	case m.marker(name, startedFile):
		st.State = StateIdle
	default:
		st.State = StateCreated
	}
	return st, nil
}
