package node

import (
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestFailedUpdateRevokes is the attack on an update: a sliver fills its
// disk so that central's next update, which lowers its disk_max below what
// it uses and revokes one of its keys, cannot apply in full. The revoked
// key must stop logging in through the gateway all the same, the other
// key keep working, and the sliver's status say what is not in force;
// once the sliver frees its disk, the retry puts the lower limit in force,
// across a restart of the agent too.
func TestFailedUpdateRevokes(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	tn, n, addr := startSSHNode(t, t.TempDir(), "upd")

	const name, mib = "pl_filler", 1 << 20
	revoked, kept := newSigner(t), newSigner(t)
	acquireDisk := func(disk int64) api.Rcap {
		rc, err := tn.client.Acquire(ctx, api.Rspec{DiskMax: disk, Privileges: api.Privileges{CreateSliver: true}})
		if err != nil {
			t.Fatal(err)
		}
		return rc
	}
	rc := acquireDisk(64 * mib)
	if err := tn.client.Bind(ctx, name, rc, api.BindAttrs{Keys: authorized(revoked, kept), InitScript: "exec sleep 1000"}); err != nil {
		t.Fatal(err)
	}
	runIn(t, n, name, "dd if=/dev/urandom of=/root/fill bs=1M count=40 2>/dev/null && sync")

	// Central moves the slice to 16 MiB with one key revoked, as its
	// resource manager does: acquire, bind, release the old rcap.
	rc2 := acquireDisk(16 * mib)
	if err := tn.client.Bind(ctx, name, rc2, api.BindAttrs{Keys: authorized(kept), InitScript: "exec sleep 1000"}); err != nil {
		t.Logf("bind with the disk full: %v", err)
	} else if err := tn.client.Release(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if err := sshLogin(addr, name, revoked); err == nil {
		t.Error("a revoked key still logs in after an update that could not lower the disk limit")
	}
	if err := sshLogin(addr, name, kept); err != nil {
		t.Errorf("the key kept no longer logs in: %v", err)
	}
	info := sliverInfo(t, tn, name)
	if !strings.Contains(info.Reason, "not in force") || !strings.Contains(info.Reason, "disk") {
		t.Errorf("status %+v: want a reason saying the disk limit is not in force", info)
	}

	// The agent restarts meanwhile; then the sliver frees its disk: the
	// retry applies the lower limit.
	tn.kill()
	n2 := tn.spawn(sshNodeEntry, addr)
	t.Cleanup(func() { n2.Close() })
	if err := sshLogin(addr, name, revoked); err == nil {
		t.Error("a revoked key logs in again after a restart")
	}
	runIn(t, n, name, "rm /root/fill && sync")
	waitUntil(t, "the update in force", func() bool { return sliverInfo(t, tn, name).Reason == "" })
}
