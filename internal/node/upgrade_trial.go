package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/orbisproject/orbis/api"
)

// trialPoll is how often the supervisor looks at its trial.
const trialPoll = 100 * time.Millisecond

// trialStopTimeout is how long a trial has to stop after SIGTERM.
const trialStopTimeout = 30 * time.Second

// trial runs the installed agent as a child, with this agent's arguments,
// and reports whether it became healthy (reached central and answers on
// the node manager socket) within u.health. The child is stopped either
// way: a healthy one is re-executed in this process, for the PID to stay
// the one a service manager knows.
func (u *upgrader) trial(ctx context.Context) (bool, error) {
	health := filepath.Join(u.dir, "health")
	os.Remove(health)
	defer os.Remove(health)
	cmd := exec.Command(u.exe, u.args[1:]...)
	cmd.Args[0] = u.args[0]
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, upgradeHealthEnv+"=") }),
		upgradeHealthEnv+"="+health)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// The trial dies with its supervisor, which never leaves it behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("start the new agent: %w", err)
	}
	// exited is closed when the trial has exited, with its error in
	// waitErr.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	ok, err := u.awaitHealth(ctx, health, exited, &waitErr)
	u.stopTrial(cmd, exited)
	return ok, err
}

// awaitHealth waits for the trial's health file and node manager socket.
func (u *upgrader) awaitHealth(ctx context.Context, health string, exited <-chan struct{}, waitErr *error) (bool, error) {
	deadline := time.Now().Add(u.health)
	nm := api.NewNMClient(u.nmSocket)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false, fmt.Errorf("the new agent exited: %v", *waitErr)
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(trialPoll):
		}
		if _, err := os.Stat(health); err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := nm.List(cctx)
		cancel()
		if err == nil {
			return true, nil
		}
	}
	return false, fmt.Errorf("the new agent did not reach central and answer on %s within %v", u.nmSocket, u.health)
}

// stopTrial ends the trial as a service manager stops an agent (SIGTERM:
// slivers keep running), and kills it if it lingers.
func (u *upgrader) stopTrial(cmd *exec.Cmd, exited <-chan struct{}) {
	select {
	case <-exited: // already gone
		return
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(trialStopTimeout):
		u.log.Warn("the new agent lingers after SIGTERM: killing it")
		cmd.Process.Kill()
		<-exited
	}
}
