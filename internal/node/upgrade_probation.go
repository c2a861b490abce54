package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orbisproject/orbis/internal/atomicfile"
)

// An upgraded agent is on probation until it has run for
// UpgradeHealthTimeout and reached central: the supervisor writes the
// build's SHA-256 to the probation file before it re-executes the new
// agent, every start of that agent counts itself there, and past
// maxProbationStarts starts (a crash loop under a service manager) the
// agent puts the previous one back, refuses the build, and re-executes
// the old agent.

// maxProbationStarts is how many starts a new agent may make before it
// has proved itself.
const maxProbationStarts = 3

func (u *upgrader) probationFile() string { return filepath.Join(u.dir, "probation") }

// startProbation puts the build sha on probation.
func (u *upgrader) startProbation(sha string) error {
	return atomicfile.WriteFile(u.probationFile(), []byte(sha+" 0\n"), 0o600)
}

// countStart counts this start of an agent on probation, and reports
// whether it has started too often: then the caller rolls back.
func (u *upgrader) countStart() (crashLoop bool, err error) {
	data, err := os.ReadFile(u.probationFile())
	if err != nil {
		return false, nil // not on probation
	}
	f := strings.Fields(string(data))
	if len(f) != 2 || !strings.EqualFold(f[0], u.self) {
		os.Remove(u.probationFile()) // another build's, already replaced
		return false, nil
	}
	n, _ := strconv.Atoi(f[1])
	n++
	if n > maxProbationStarts {
		return true, nil
	}
	return false, atomicfile.WriteFile(u.probationFile(), []byte(fmt.Sprintf("%s %d\n", f[0], n)), 0o600)
}

// endProbation ends the probation of the running agent once it has run
// for u.health and just reached central.
func (u *upgrader) endProbation(started time.Time) {
	if time.Since(started) < u.health {
		return
	}
	if _, err := os.Stat(u.probationFile()); err == nil {
		os.Remove(u.probationFile())
		u.log.Info("upgrade: the new agent has proved itself", "sha256", u.self)
	}
}

// checkProbation rolls back an agent that keeps restarting on probation:
// it returns only if it cannot re-execute the previous agent, or there is
// nothing to do.
func (u *upgrader) checkProbation() error {
	loop, err := u.countStart()
	if err != nil || !loop {
		return err
	}
	u.log.Error("upgrade: the new agent keeps restarting: putting the previous one back", "sha256", u.self)
	if _, err := os.Stat(u.exe + ".prev"); err != nil {
		return fmt.Errorf("roll back a crash-looping upgrade: %w", err)
	}
	if err := u.rollback(u.self); err != nil {
		return fmt.Errorf("roll back a crash-looping upgrade: %w", err)
	}
	os.Remove(u.probationFile())
	return u.reexec()
}
