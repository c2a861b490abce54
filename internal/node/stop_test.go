package node

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/testutil"
)

// nodeTermEntry runs the agent as `orbis node` does: SIGTERM ends it
// gracefully.
const nodeTermEntry = "orbis-test-node-term"

func init() {
	reexec.Register(nodeTermEntry, func() {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		err := Run(ctx, Config{StateDir: os.Args[1], NMSocket: os.Args[2], CgroupParent: os.Args[3], Uplink: "none",
			SniffGroup: uint16(1000 + os.Getpid()%30000), Log: testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

// TestSliversOutliveAgentStop stops the agent as systemd stops or
// restarts orbis-node.service (KillMode=process: SIGTERM to the agent
// alone), starts a new agent, and checks that a running sliver's process
// lived on untouched and the new agent lists it running.
func TestSliversOutliveAgentStop(t *testing.T) {
	testutil.RequireRoot(t)
	state := t.TempDir()
	tn := &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-stop-%d", os.Getpid())}
	ctx := testutil.Context(t)
	if _, err := rootfs.NewStore(state, rootfs.Options{}, testutil.Logger(t)).Build(ctx, "busybox", "busybox", nil); err != nil {
		t.Fatal(err)
	}
	tn.spawn(nodeTermEntry).Close()
	bind(t, tn, "pl_keep", "exec sleep 1000")
	waitUntil(t, "sliver running", func() bool { return procsOf(tn, "pl_keep") > 0 })
	pid := procIn(t, tn, "pl_keep")

	start := time.Now()
	if err := tn.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- tn.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("agent's exit at SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent still running 30 s after SIGTERM")
	}
	t.Logf("agent stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the sliver's process died with the agent: %v", err)
	}

	startTestNode(t, tn)
	waitUntil(t, "sliver listed running", func() bool { return procsOf(tn, "pl_keep") > 0 })
	if got := procIn(t, tn, "pl_keep"); got != pid {
		t.Errorf("the sliver's process is %d after the restart, was %d: it was restarted", got, pid)
	}
}

// procsOf is the number of processes the node manager lists for a sliver.
func procsOf(tn *testNode, name string) int {
	l, err := tn.client.List(context.Background())
	if err != nil {
		return 0
	}
	for _, s := range l.Slivers {
		if s.Name == name {
			return s.Procs
		}
	}
	return 0
}
