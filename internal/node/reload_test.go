package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestPolicyReloadOnSIGHUP: the local policy is read at start and on
// SIGHUP only. A changed file is not in force until the agent gets a
// SIGHUP (not after the 2 s the node used to poll at); after a real
// SIGHUP it is, in the node manager's admission and the node's shaper
// bound; a file that does not parse, SIGHUP'd, leaves the last good one.
func TestPolicyReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bandwidth 1000\nbroker central cpu_guarantee=100 net_min_rate=100\n")
	n := &Node{cfg: Config{PolicyPath: path, StateDir: dir, Log: testutil.Logger(t)}}
	p, err := n.loadPolicy()
	if err != nil {
		t.Fatal(err)
	}
	rt, err := nodemgr.NewFakeRuntime("")
	if err != nil {
		t.Fatal(err)
	}
	nm, err := nodemgr.Open(context.Background(), nodemgr.Options{StateDir: filepath.Join(dir, "nm"), Runtime: rt,
		Node: nodemgr.Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}, Log: testutil.Logger(t), Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nm.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	n.reloadOnHUP(ctx, nm)

	acquire := func() error {
		rc, err := nm.Acquire(context.Background(), api.Rspec{CPUGuarantee: 200})
		if err == nil {
			if err := nm.Release(context.Background(), rc); err != nil {
				t.Fatal(err)
			}
		}
		return err
	}
	if err := acquire(); !errors.Is(err, nodemgr.ErrRefused) {
		t.Fatalf("cpu_guarantee 200 under a share of 100: %v", err)
	}

	write("bandwidth 5000\nbroker central cpu_guarantee=500 net_min_rate=100\n")
	time.Sleep(2500 * time.Millisecond)
	if err := acquire(); !errors.Is(err, nodemgr.ErrRefused) {
		t.Fatalf("the changed file is in force without SIGHUP: %v", err)
	}
	if kbit, _ := n.policyCap(); kbit != 1000 {
		t.Fatalf("the node's bandwidth bound is %d without SIGHUP, want the loaded 1000", kbit)
	}

	hup := func() {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	hup()
	waitUntil(t, "the policy reloaded on SIGHUP", func() bool { kbit, _ := n.policyCap(); return kbit == 5000 })
	if err := acquire(); err != nil {
		t.Fatalf("cpu_guarantee 200 under the SIGHUP'd share of 500: %v", err)
	}

	write("broker central cpu_guarantee=lots\n")
	before := n.policy.Load()
	n.reload(nm.SetPolicy) // what a SIGHUP runs, here in step with the test
	if n.policy.Load() != before {
		t.Fatal("a policy that does not parse replaced the last good one")
	}
	if err := acquire(); err != nil {
		t.Fatalf("after a bad file was SIGHUP'd, the last good policy: %v", err)
	}
}
