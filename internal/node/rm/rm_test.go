package rm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestSliverLifecycle follows one slice through what central can do to
// it: appear, new keys, new resources, disable, enable, removal.
func TestSliverLifecycle(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.startRM()
	within(t, 2*time.Second, "first report", func() bool { _, n := e.src.Reports(nodeID); return n > 0 })

	// Appears: acquired and bound within a second.
	rs := api.Rspec{CPUGuarantee: 400, CPUShares: 4}
	s := e.sliverOf("pl_alpha", rs, "ssh-ed25519 AAAA alice@x")
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	d := within(t, time.Second, "sliver created", func() bool {
		fs, ok := e.rt.Sliver("pl_alpha")
		return ok && fs.State == "running"
	})
	t.Logf("sliver running %v after the change", d)
	fs, _ := e.rt.Sliver("pl_alpha")
	if !reflect.DeepEqual(fs.Spec.Keys, []string{"ssh-ed25519 AAAA alice@x"}) || fs.Spec.InitScript != "#!/bin/sh\necho hello\n" ||
		fs.Spec.Rspec.CPUGuarantee != 400 || fs.Spec.Rspec.End != s.Expires {
		t.Fatalf("sliver spec: %+v", fs.Spec)
	}
	within(t, time.Second, "running reported", func() bool { r, _ := e.report("pl_alpha"); return r.State == "running" })
	firstRcap := e.list().Slivers[0].Rcap

	// Keys change: bound again to the same rcap.
	s.Keys = append(s.Keys, api.SliverKey{KeyType: "ssh", Key: "ssh-ed25519 BBBB bob@y"})
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, time.Second, "keys updated", func() bool {
		fs, _ := e.rt.Sliver("pl_alpha")
		return len(fs.Spec.Keys) == 2
	})
	if l := e.list(); len(l.Rcaps) != 1 || l.Slivers[0].Rcap != firstRcap {
		t.Fatalf("new keys changed the rcap: %+v", l)
	}

	// Rspec changes: the rcap amended in place.
	s.Rspec.CPUGuarantee = 600
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, time.Second, "amended", func() bool {
		fs, _ := e.rt.Sliver("pl_alpha")
		return fs.Spec.Rspec.CPUGuarantee == 600
	})
	l := e.list()
	if len(l.Rcaps) != 1 || l.Slivers[0].Rcap != firstRcap || l.Rcaps[0].Rspec.CPUGuarantee != 600 {
		t.Fatalf("after the amend: %+v", l)
	}
	// No admission leak: the rest of the node is free for another broker.
	rc, err := e.nmc.Acquire(context.Background(), api.Rspec{CPUGuarantee: 400})
	if err != nil {
		t.Fatalf("acquire the 400 left after the amend: %v", err)
	}
	e.nmc.Release(context.Background(), rc)

	// enabled=0 stops it; enabled again starts it.
	s.Attributes = append(s.Attributes, api.Attribute{TagName: "enabled", Value: "0"})
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, time.Second, "stopped", func() bool { fs, _ := e.rt.Sliver("pl_alpha"); return fs.State == "stopped" })
	within(t, time.Second, "stopped reported", func() bool { r, _ := e.report("pl_alpha"); return r.State == "stopped" })
	s.Attributes = s.Attributes[:1]
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, time.Second, "started", func() bool { fs, _ := e.rt.Sliver("pl_alpha"); return fs.State == "running" })

	// Removed: released, sliver destroyed, nothing held.
	e.src.SetSlivers(nodeID, nil, false)
	within(t, time.Second, "released", func() bool {
		_, ok := e.rt.Sliver("pl_alpha")
		return !ok && len(e.list().Rcaps) == 0
	})
	within(t, time.Second, "empty report", func() bool { r, _ := e.src.Reports(nodeID); return len(r) == 0 })
}

// TestDisableFirst checks that central's enabled=0 stops a sliver even
// when the same change asks for what the node cannot give (the move to
// new resources is refused): nothing a bind needs may keep a disabled
// sliver running.
func TestDisableFirst(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.startRM()
	s := e.sliverOf("pl_off", api.Rspec{CPUShares: 1}, "ssh-ed25519 AAAA a@x")
	e.runSliver(s)

	s.Rspec.CPUGuarantee = 2000 // more than the node has: the move is refused
	s.Attributes = append(s.Attributes, api.Attribute{TagName: "enabled", Value: "0"})
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "refusal reported", func() bool {
		r, _ := e.report("pl_off")
		return strings.Contains(r.Reason, "new resources refused")
	})
	if fs, _ := e.rt.Sliver("pl_off"); fs.State != "stopped" {
		t.Fatalf("disabled sliver is %s, want stopped", fs.State)
	}
}

// TestMoveRefusedStillRevokes: central revokes a key in the same change
// as new resources the node refuses: the sliver stays on its resources,
// the refusal is reported, and the key is revoked all the same.
func TestMoveRefusedStillRevokes(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.startRM()
	const revoked, kept = "ssh-ed25519 AAAA revoked@x", "ssh-ed25519 BBBB kept@x"
	s := e.sliverOf("pl_keys", api.Rspec{CPUShares: 1}, revoked, kept)
	e.runSliver(s)

	s = e.sliverOf("pl_keys", api.Rspec{CPUShares: 1, CPUGuarantee: 2000}, kept) // more than the node has
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "refusal reported", func() bool {
		r, _ := e.report("pl_keys")
		return strings.Contains(r.Reason, "new resources refused")
	})
	fs, _ := e.rt.Sliver("pl_keys")
	if !slices.Equal(fs.Spec.Keys, []string{kept}) {
		t.Errorf("keys after a refused move %q, want only %q", fs.Spec.Keys, kept)
	}
	if fs.Spec.Rspec.CPUGuarantee != 0 {
		t.Errorf("the refused resources were bound: %+v", fs.Spec.Rspec)
	}
}

// TestAdmissionRefusalReported checks that a sliver the node manager
// refuses is reported failed with its reason, and created once room is
// made, without a new list.
func TestAdmissionRefusalReported(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	ctx := context.Background()
	other, err := e.nmc.Acquire(ctx, api.Rspec{CPUGuarantee: 900}) // another broker
	if err != nil {
		t.Fatal(err)
	}
	e.startRM()
	e.src.SetSlivers(nodeID, []api.Sliver{e.sliverOf("pl_big", api.Rspec{CPUGuarantee: 200}, "ssh-ed25519 AAAA a@x")}, false)
	within(t, 2*time.Second, "failure reported", func() bool {
		r, _ := e.report("pl_big")
		return r.State == "failed" && strings.Contains(r.Reason, "cpu_guarantee: 200 requested, 100 of 1000 free")
	})
	if _, ok := e.rt.Sliver("pl_big"); ok {
		t.Fatal("refused sliver exists")
	}
	if err := e.nmc.Release(ctx, other); err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "retried and running", func() bool { r, _ := e.report("pl_big"); return r.State == "running" && r.Reason == "" })
}

// TestCentralDown checks a node cut from central: it keeps its slivers,
// across a restart of the resource manager too, still expires them on
// time, and reconciles when central is back.
func TestCentralDown(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.startRM()
	short := e.sliverOf("pl_short", api.Rspec{CPUGuarantee: 100}, "ssh-ed25519 AAAA a@x")
	long := e.sliverOf("pl_long", api.Rspec{CPUGuarantee: 100}, "ssh-ed25519 AAAA a@x")
	long.Expires = e.clock.Now().Add(48 * time.Hour).Unix()
	e.src.SetSlivers(nodeID, []api.Sliver{short, long}, false)
	within(t, time.Second, "both running", func() bool { return len(e.list().Slivers) == 2 })
	rcapsBefore := e.list().Rcaps

	e.setDown(true)
	time.Sleep(700 * time.Millisecond) // several failed polls and reconciles
	if l := e.list(); len(l.Slivers) != 2 {
		t.Fatalf("central down: slivers %+v", l.Slivers)
	}

	// Restart with central still down: the persisted list keeps them.
	e.stopRM()
	checkStateFiles(t, e.rmDir)
	e.startRM()
	time.Sleep(700 * time.Millisecond)
	if l := e.list(); !reflect.DeepEqual(l.Rcaps, rcapsBefore) || len(l.Slivers) != 2 {
		t.Fatalf("after a restart without central: %+v (rcaps before %+v)", l, rcapsBefore)
	}

	// The short one's expiry passes: the node manager destroys it, and
	// the resource manager does not bring it back.
	e.clock.Advance(2 * time.Hour)
	within(t, time.Second, "expired sliver gone", func() bool { _, ok := e.rt.Sliver("pl_short"); return !ok })
	time.Sleep(700 * time.Millisecond)
	if _, ok := e.rt.Sliver("pl_short"); ok {
		t.Fatal("expired sliver came back")
	}
	if _, ok := e.rt.Sliver("pl_long"); !ok {
		t.Fatal("unexpired sliver gone")
	}

	// Central back, with a new slice: reconciled.
	e.src.SetSlivers(nodeID, []api.Sliver{long, e.sliverOf("pl_new", api.Rspec{}, "ssh-ed25519 AAAA a@x")}, true)
	e.setDown(false)
	within(t, 2*time.Second, "new sliver after central is back", func() bool {
		fs, ok := e.rt.Sliver("pl_new")
		return ok && fs.State == "running"
	})
	within(t, 2*time.Second, "reported", func() bool {
		r, _ := e.src.Reports(nodeID)
		return len(r) == 2 && r[0].Name == "pl_long" && r[1].Name == "pl_new" && r[1].State == "running"
	})
}

// checkStateFiles checks that the state files are private and hold what
// a restart needs.
func checkStateFiles(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{listFile, rcapsFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v, want 0600 (rcaps are secrets)", name, fi.Mode().Perm())
		}
	}
	data, _ := os.ReadFile(filepath.Join(dir, rcapsFile))
	var st rcapState
	if err := json.Unmarshal(data, &st); err != nil || len(st.Slices) != 2 || st.Slices["pl_long"].Rcap == "" {
		t.Fatalf("rcaps file: %s (%v)", data, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Fatalf("state directory holds %d files, want 2 (no temporary left)", len(ents))
	}
}

// TestDesired checks the translation of a listed sliver into an rspec and
// bind attributes.
func TestDesired(t *testing.T) {
	s := api.Sliver{Name: "pl_x", Expires: 2000,
		Keys:       []api.SliverKey{{Key: "ssh-rsa AAA a@x\r\nssh-ed25519 BBB b@y\n"}, {Key: "ssh-rsa AAA a@x"}, {Key: "  "}},
		Attributes: []api.Attribute{{TagName: "initscript", Value: "boot"}, {TagName: "image", Value: "debian"}},
		Rspec:      api.Rspec{CPUShares: 3, Ports: []api.Port{}}}
	rs := desiredRspec(s)
	if !rs.Privileges.CreateSliver || rs.End != 2000 || rs.Ports != nil || rs.CPUShares != 3 {
		t.Fatalf("rspec %+v", rs)
	}
	s.Rspec.End = 1500
	if desiredRspec(s).End != 1500 {
		t.Fatal("central's end overridden")
	}
	want := api.BindAttrs{Keys: []string{"ssh-rsa AAA a@x", "ssh-ed25519 BBB b@y"}, InitScript: "boot", Image: "debian"}
	if a := desiredAttrs(s); !reflect.DeepEqual(a, want) {
		t.Fatalf("attrs %+v, want %+v", a, want)
	}
	// vref is the image's name (PlanetLab's, and the one central
	// documents); image is read only without it; the newest value wins.
	s.Attributes = append(s.Attributes, api.Attribute{TagName: "vref", Value: "fedora"}, api.Attribute{TagName: "vref", Value: "alpine"})
	if a := desiredAttrs(s); a.Image != "alpine" {
		t.Fatalf("image %q with vref tags, want alpine", a.Image)
	}
}

// TestCrashDuringMove restarts the resource manager on the state a crash
// in the middle of a move leaves, both before and after the move's bind,
// and checks that no rcap leaks either way.
func TestCrashDuringMove(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	for _, bound := range []bool{false, true} {
		t.Run(map[bool]string{false: "before bind", true: "after bind"}[bound], func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			s := e.sliverOf("pl_m", api.Rspec{CPUGuarantee: 300}, "ssh-ed25519 AAAA a@x")
			rs := desiredRspec(s)
			old, _ := e.nmc.Acquire(ctx, api.Rspec{CPUGuarantee: 100, Privileges: rs.Privileges, End: rs.End})
			attrs := desiredAttrs(s)
			if err := e.nmc.Bind(ctx, "pl_m", old, attrs); err != nil {
				t.Fatal(err)
			}
			next, _ := e.nmc.Acquire(ctx, rs)
			if bound {
				if err := e.nmc.Bind(ctx, "pl_m", next, attrs); err != nil {
					t.Fatal(err)
				}
			}
			oldRs := rs
			oldRs.CPUGuarantee = 100
			st := rcapState{Slices: map[string]*held{"pl_m": {Rcap: old, Rspec: oldRs, Attrs: attrs, Bound: true, Next: next, NextRspec: rs}}}
			list := api.Slivers{NodeID: nodeID, Version: 5, Slivers: []api.Sliver{s}}
			if err := writeJSON(e.rmDir, rcapsFile, st); err != nil {
				t.Fatal(err)
			}
			if err := writeJSON(e.rmDir, listFile, list); err != nil {
				t.Fatal(err)
			}
			e.setDown(true)
			e.startRM()
			within(t, 2*time.Second, "one rcap of 300 left", func() bool {
				l := e.list()
				return len(l.Rcaps) == 1 && l.Rcaps[0].Rspec.CPUGuarantee == 300 && l.Rcaps[0].Bound == "pl_m"
			})
			if fs, ok := e.rt.Sliver("pl_m"); !ok || fs.State != "running" {
				t.Fatalf("sliver after recovery: %+v %v", fs, ok)
			}
		})
	}
}

// TestCrashDuringAcquire: the resource manager dies after the node
// manager made an rcap for it and before it recorded it. At restart that
// rcap, which no one else holds, is released; an rcap of central's that
// existed before (an operator's) stays; the slice gets its sliver.
func TestCrashDuringAcquire(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	ctx := context.Background()
	s := e.sliverOf("pl_a", api.Rspec{CPUGuarantee: 300}, "ssh-ed25519 AAAA a@x")
	rs := desiredRspec(s)
	operator, err := e.nmc.Acquire(ctx, api.Rspec{CPUGuarantee: 100})
	if err != nil {
		t.Fatal(err)
	}
	var before []string
	for _, r := range e.list().Rcaps {
		before = append(before, r.ID)
	}
	if _, err := e.nmc.Acquire(ctx, rs); err != nil { // made, never recorded
		t.Fatal(err)
	}
	st := rcapState{Slices: map[string]*held{}, Acquiring: &acquiring{Before: before}}
	if err := writeJSON(e.rmDir, rcapsFile, st); err != nil {
		t.Fatal(err)
	}
	if err := writeJSON(e.rmDir, listFile, api.Slivers{NodeID: nodeID, Version: 5, Slivers: []api.Sliver{s}}); err != nil {
		t.Fatal(err)
	}
	e.setDown(true)
	e.startRM()
	within(t, 2*time.Second, "the leaked rcap released, the sliver bound", func() bool {
		l := e.list()
		return len(l.Rcaps) == 2 && slices.ContainsFunc(l.Rcaps, func(r api.RcapInfo) bool { return r.Bound == "pl_a" })
	})
	if _, err := e.nmc.Query(ctx, operator); err != nil {
		t.Errorf("the operator's rcap, which existed before the acquire, was released: %v", err)
	}
	e.stopRM()
	if _, st, _ := loadState(e.rmDir); st.Acquiring != nil {
		t.Errorf("the acquire's intent is still recorded: %+v", st.Acquiring)
	}
}

// TestRenewalPastMaxTime: a slice renewed past api.MaxTime (by a central
// that did not bound it) lives until api.MaxTime on the node, instead of
// keeping its old end because the node refuses the new one.
func TestRenewalPastMaxTime(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.startRM()
	s := e.sliverOf("pl_long", api.Rspec{CPUShares: 1})
	e.runSliver(s)
	s.Expires = 253402300800 + 86400 // 10000-01-02
	e.src.SetSlivers(nodeID, []api.Sliver{s}, false)
	within(t, 2*time.Second, "renewed to api.MaxTime", func() bool {
		l := e.list()
		return len(l.Rcaps) == 1 && l.Rcaps[0].Bound == "pl_long" && l.Rcaps[0].Rspec.End == api.MaxTime
	})
	if r, _ := e.report("pl_long"); r.Reason != "" {
		t.Errorf("report after the renewal: %+v", r)
	}
}
