package node

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/testutil"
)

// pingGroupRange is the sysctl a node agent widens so that its slivers'
// GIDs may open ICMP datagram sockets (rawfd.WidenPingGroups). It is per
// network namespace: an agent a test runs in the host's widens the host's.
const pingGroupRange = "/proc/sys/net/ipv4/ping_group_range"

// restorePingGroups puts the host's ping_group_range back as it is now
// when the test ends, so that no test leaves the host granting ping
// sockets to its slivers' GIDs. Call it before registering the cleanup
// that stops the agent, so that it runs after.
func restorePingGroups(t *testing.T) {
	t.Helper()
	was, err := os.ReadFile(pingGroupRange)
	if err != nil {
		t.Fatalf("read %s: %v", pingGroupRange, err)
	}
	t.Cleanup(func() {
		if now, err := os.ReadFile(pingGroupRange); err == nil && bytes.Equal(now, was) {
			return
		}
		if err := os.WriteFile(pingGroupRange, was, 0o644); err != nil {
			t.Errorf("restore %s to %q: %v", pingGroupRange, bytes.TrimSpace(was), err)
		}
	})
}

const pingNodeEntry = "orbis-test-node-uidbase"

func init() {
	reexec.Register(pingNodeEntry, func() {
		base, _ := strconv.ParseUint(os.Args[4], 10, 32)
		err := Run(context.Background(), Config{StateDir: os.Args[1], NMSocket: os.Args[2], CgroupParent: os.Args[3],
			Uplink: "none", UIDBase: uint32(base), UIDRanges: 4, SniffGroup: uint16(1000 + os.Getpid()%30000), Log: testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

// TestAgentLeavesPingGroups: an agent in the host's network namespace
// widens the host's ping_group_range for its sliver; once the test is
// over the host's range is what it was before.
func TestAgentLeavesPingGroups(t *testing.T) {
	testutil.RequireRoot(t)
	before := readPingGroupRange(t)
	// UIDs far above the range the host grants, so the agent must widen it.
	base := uint32(1<<30) + uint32(os.Getpid()%4096)*4*65536
	if base <= before[1] {
		t.Fatalf("the host's ping_group_range %v already reaches %d", before, base)
	}
	t.Run("agent", func(t *testing.T) {
		state := t.TempDir()
		tn := &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-ping-%d", os.Getpid())}
		if _, err := rootfs.NewStore(state, rootfs.Options{}, testutil.Logger(t)).Build(testutil.Context(t), "busybox", "busybox", nil); err != nil {
			t.Fatal(err)
		}
		tn.spawn(pingNodeEntry, strconv.FormatUint(uint64(base), 10)).Close()
		bind(t, tn, "pl_pinger", "")
		if got := readPingGroupRange(t); got[1] < base {
			t.Fatalf("the agent did not widen the host's range for its sliver: %v", got)
		}
	})
	if after := readPingGroupRange(t); after != before {
		t.Errorf("the host's ping_group_range is %v after the test, was %v", after, before)
	}
}

func readPingGroupRange(t *testing.T) [2]uint32 {
	t.Helper()
	b, err := os.ReadFile(pingGroupRange)
	if err != nil {
		t.Fatal(err)
	}
	var r [2]uint32
	f := strings.Fields(string(b))
	for i := range r {
		v, err := strconv.ParseUint(f[i], 10, 32)
		if err != nil || len(f) != 2 {
			t.Fatalf("%s: %q", pingGroupRange, b)
		}
		r[i] = uint32(v)
	}
	return r
}
