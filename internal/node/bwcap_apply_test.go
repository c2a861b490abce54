package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/shaping"
	"github.com/orbisproject/orbis/internal/testutil"
)

// capNetwork is the part of a node's network that keeps the uplink's cap:
// a real shaper on dev, the cap read from stateDir as the agent starts,
// and its watcher.
type capNetwork struct {
	*network
	stop func()
}

func startCapNetwork(t *testing.T, stateDir, dev string) *capNetwork {
	t.Helper()
	n := &network{log: testutil.Logger(t), capKick: make(chan struct{}, 1)}
	n.loadCap(stateDir)
	sh, err := shaping.New(dev, n.capSet.Load(), n.log)
	if err != nil {
		t.Fatal(err)
	}
	n.shaper = sh
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.watchCap(ctx); close(done) }()
	c := &capNetwork{network: n, stop: func() { cancel(); <-done }}
	t.Cleanup(c.stop)
	return c
}

// waitCap waits up to within for the shaper to apply kbit, and returns how
// long it took.
func waitCap(t *testing.T, sh *shaping.Shaper, kbit int64, within time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	for sh.Cap() != kbit {
		if time.Since(start) > within {
			t.Fatalf("%s: cap %d kbit/s after %v, want %d", what, sh.Cap(), within, kbit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// TestAdminCapAppliesAtOnce: a cap set through the admin service is in
// force on the uplink at once (the service tells the network; it used to
// wait for a 5 s poll of the cap file), a restarted agent applies the
// stored cap from its start, and a cap written by `orbis node bwcap` from
// another process is applied on SIGHUP.
func TestAdminCapAppliesAtOnce(t *testing.T) {
	testutil.RequireRoot(t)
	state := t.TempDir()
	dev := dummyLink(t)
	n := startCapNetwork(t, state, dev)
	t.Cleanup(func() { n.shaper.Close() })
	waitCap(t, n.shaper, shaping.DefaultRootRate, time.Second, "at start")

	cfg := admin.Config{Authorize: func(uint32) (string, bool) { return "", false }, StateDir: state, Log: testutil.Logger(t)}
	n.adminCap(&cfg)
	svc, err := admin.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetBwcap("10mbit"); err != nil {
		t.Fatal(err)
	}
	d := waitCap(t, n.shaper, 10000, time.Second, "after the admin service set 10mbit")
	t.Logf("applied %v after the call", d)
	if out, _ := exec.Command("tc", "class", "show", "dev", dev).Output(); !strings.Contains(string(out), "rate 10Mbit") {
		t.Errorf("tc classes of %s do not show the 10mbit cap:\n%s", dev, out)
	}
	if b, err := svc.Bwcap(); err != nil || b.KBit != 10000 || b.AppliedKBit != 10000 {
		t.Errorf("Bwcap = %+v, %v; want 10000 recorded and applied", b, err)
	}

	// The agent restarts: the stored cap is in force from the start.
	n.stop()
	n = startCapNetwork(t, state, dev)
	if got := n.shaper.Cap(); got != 10000 {
		t.Errorf("after a restart the cap is %d kbit/s, want the stored 10000", got)
	}

	// `orbis node bwcap 3mbit` from another process, then SIGHUP.
	if err := shaping.WriteCap(state, 3000); err != nil {
		t.Fatal(err)
	}
	n.reloadCap(state) // what the node's SIGHUP does (reloadOnHUP)
	waitCap(t, n.shaper, 3000, time.Second, "after SIGHUP")

	// A garbled file on SIGHUP leaves the uplink at the last good cap.
	if err := os.WriteFile(filepath.Join(state, shaping.CapFile), []byte("fast\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n.reloadCap(state)
	time.Sleep(100 * time.Millisecond) // time for watchCap to act, if it would
	if got := n.shaper.Cap(); got != 3000 {
		t.Errorf("after SIGHUP with a garbled cap file the cap is %d kbit/s, want the last good 3000", got)
	}
}
