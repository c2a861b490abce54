package portmgr

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// TestSocketQuota has a sliver open more sockets than its quota, as a
// slice that would hold the ephemeral range does: the sockets past the
// quota are refused, another sliver and the node still get theirs, and
// the sliver's closed sockets give it its quota back.
func TestSocketQuota(t *testing.T) {
	f := newFixture(t)
	f.maxSockets = 4
	m := f.open(t)
	for _, o := range []struct{ name, dir string }{{"alice", f.alice}, {"bob", f.bob}} {
		if err := m.Reserve(t.Context(), o.name, o.dir, nil); err != nil {
			t.Fatalf("Reserve %s: %v", o.name, err)
		}
	}
	specs := []string{"udp4:0", "tcp4:0", "udp6:0", "tcp6d:0", "udp4:0", "tcp4:0"}
	want := []string{"ok", "ok", "ok", "ok", "EPERM", "EPERM", "held"}

	// Alice holds her quota, from a cgroup below her sliver's.
	hold := f.binder(t, f.aliceInner, aliceUID, append([]string{"-hold"}, specs...)...)
	stdin, err := hold.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := hold.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); hold.Wait() })
	got, err := readLines(bufio.NewReader(out), len(want))
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("alice opening %d sockets with a quota of 4: got %v (%v), want %v", len(specs), got, err, want)
	}
	if n, err := m.Sockets("alice"); err != nil || n != 4 {
		t.Errorf("alice's sockets: %d, %v; want 4", n, err)
	}

	// Her quota is hers alone.
	f.expect(t, "bob, while alice holds her quota", f.bob, bobUID, "ok", specs[:4]...)
	f.expect(t, "the node's root, while alice holds her quota", f.root, 0, "ok", specs...)

	// Closed, her sockets count no more.
	stdin.Close()
	hold.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := m.Sockets("alice")
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's sockets after her process ended: %d, %v; want 0", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.expect(t, "alice, her sockets closed", f.aliceInner, aliceUID, "ok", specs[:4]...)

	// Released, she is no longer counted; a sliver made again (a new
	// cgroup under the same name) starts from none.
	if err := m.Release("alice"); err != nil {
		t.Fatal(err)
	}
	f.expect(t, "alice, released", f.alice, aliceUID, "ok", specs...)
}

// TestReserveNode reserves a port for the node: a sliver cannot bind it
// on any address, the node's tasks can, and a slice cannot reserve it.
func TestReserveNode(t *testing.T) {
	f := newFixture(t)
	m := f.open(t)
	if err := m.Reserve(t.Context(), "alice", f.alice, nil); err != nil {
		t.Fatal(err)
	}
	port := f.hi + 2
	if err := m.ReserveNode([]api.Port{{Proto: "tcp", Port: port}, {Proto: "udp", Port: port}}); err != nil {
		t.Fatalf("ReserveNode: %v", err)
	}
	p := strconv.Itoa(int(port))
	f.expect(t, "alice", f.aliceInner, aliceUID, "EPERM", allKinds(port)...)
	f.expect(t, "alice on loopback", f.aliceInner, aliceUID, "EPERM", "tcp4@127.0.0.1:"+p, "udp4@127.0.0.1:"+p)
	f.expect(t, "the node's root", f.root, 0, "ok", allKinds(port)...)
	if err := m.Reserve(t.Context(), "alice", f.alice, []api.Port{{Proto: "tcp", Port: port}}); err == nil {
		t.Errorf("alice reserved the node's port %d/tcp", port)
	}
	if err := m.Reserve(t.Context(), nodeOwner, f.bob, nil); err == nil {
		t.Errorf("a slice named %q was given a cgroup", nodeOwner)
	}
}

// TestReserveNodeListed: the node's ports inside the ephemeral range are
// listed in ip_local_reserved_ports while the node runs and across a
// restart (Close), and Detach takes out those it listed, never one the
// operator had listed.
func TestReserveNodeListed(t *testing.T) {
	f, m, port := claimFixture(t)
	operators := port + 1
	if err := os.WriteFile(f.localReserved, []byte(strconv.Itoa(int(operators))+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.ReserveNode([]api.Port{{Proto: "tcp", Port: port}, {Proto: "tcp", Port: operators}}); err != nil {
		t.Fatalf("ReserveNode: %v", err)
	}
	both := fmt.Sprintf("%d-%d", port, operators)
	if got := f.listed(t); got != both {
		t.Fatalf("ip_local_reserved_ports = %q, want %q", got, both)
	}
	if err := m.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if got, want := f.listed(t), strconv.Itoa(int(operators)); got != want {
		t.Errorf("after Detach ip_local_reserved_ports = %q, want the operator's %q", got, want)
	}
}
