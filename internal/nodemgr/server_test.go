package nodemgr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/peercred"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestOperationsOverSocket runs every operation through the real socket
// and client, and checks what the runtime was asked to do.
func TestOperationsOverSocket(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	e.serve()
	ctx := context.Background()
	rs := api.Rspec{CPUGuarantee: 100, MemoryGuarantee: 64 << 20, CPUShares: 10,
		Ports: []api.Port{{Proto: "tcp", Port: 8080}, {Proto: "udp", Port: 23000}}, Privileges: sliverRights}
	rc, err := e.c.Acquire(ctx, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rc) != 32 || strings.Trim(string(rc), "0123456789abcdef") != "" {
		t.Fatalf("rcap %q is not 32 lower-case hex digits", rc)
	}

	q, err := e.c.Query(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}
	want := rs
	want.MemoryMax, want.DiskMax = testNode.DefaultMemoryMax, testNode.DefaultDiskMax
	want.ProcMax, want.OpenFileMax, want.NetMinRate, want.NetMaxRate = 512, 1024, 5, 10000
	want.Start = t0.Unix()
	if got, _ := json.Marshal(q.Rspec); string(got) != string(mustJSON(t, want)) {
		t.Fatalf("query rspec:\n got %s\nwant %s", got, mustJSON(t, want))
	}
	if q.Slice != "" {
		t.Fatalf("query slice %q before bind", q.Slice)
	}

	attrs := api.BindAttrs{Keys: []string{"ssh-ed25519 AAAA alice@x"}, InitScript: "#!/bin/sh\necho hi\n"}
	if err := e.c.Bind(ctx, "princeton_test", rc, attrs); err != nil {
		t.Fatal(err)
	}
	s, ok := e.rt.Sliver("princeton_test")
	if !ok || s.State != sliver.StateRunning {
		t.Fatalf("sliver after bind: %+v, %v (want running)", s, ok)
	}
	if s.Spec.UIDBase != 100000 || s.Spec.UIDCount != 65536 || s.Spec.Image != "default" ||
		s.Spec.InitScript != attrs.InitScript || s.Spec.Rspec.CPUGuarantee != 100 {
		t.Fatalf("sliver spec: %+v", s.Spec)
	}
	if q, _ := e.c.Query(ctx, rc); q.Slice != "princeton_test" {
		t.Fatalf("query slice after bind: %q", q.Slice)
	}

	l, err := e.c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(l)
	if bytes.Contains(raw, []byte(rc)) {
		t.Fatalf("list reveals the rcap: %s", raw)
	}
	if len(l.Rcaps) != 1 || l.Rcaps[0].ID != q.ID || len(l.Slivers) != 1 ||
		l.Slivers[0].State != "running" || l.Slivers[0].Rcap != q.ID || l.Slivers[0].UIDBase != 100000 {
		t.Fatalf("list: %s", raw)
	}

	child, err := e.c.Split(ctx, rc, api.Rspec{CPUGuarantee: 30, Ports: []api.Port{{Proto: "udp", Port: 23000}}})
	if err != nil {
		t.Fatal(err)
	}
	cq, err := e.c.Query(ctx, child)
	if err != nil {
		t.Fatal(err)
	}
	if cq.Rspec.CPUGuarantee != 30 || cq.Rspec.CPUShares != 10 || len(cq.Rspec.Ports) != 1 || cq.Slice != "" {
		t.Fatalf("child: %+v", cq)
	}
	if s, _ := e.rt.Sliver("princeton_test"); s.Spec.Rspec.CPUGuarantee != 70 || len(s.Spec.Rspec.Ports) != 1 {
		t.Fatalf("parent's sliver after split: %+v (want cpu_guarantee 70, one port)", s.Spec.Rspec)
	}

	if err := e.c.Stop(ctx, "princeton_test"); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.rt.Sliver("princeton_test"); s.State != sliver.StateStopped {
		t.Fatalf("after stop: %s", s.State)
	}
	if err := e.c.Start(ctx, "princeton_test"); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.rt.Sliver("princeton_test"); s.State != sliver.StateRunning {
		t.Fatalf("after start: %s", s.State)
	}
	if err := e.c.Destroy(ctx, "princeton_test"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.rt.Sliver("princeton_test"); ok {
		t.Fatal("sliver still there after destroy")
	}
	if q, err := e.c.Query(ctx, rc); err != nil || q.Slice != "" {
		t.Fatalf("rcap after destroy: %+v, %v (want live, unbound)", q, err)
	}

	// The child carries no create_sliver; the parent binds again, on the
	// range the destroy freed.
	err = e.c.Bind(ctx, "princeton_test", child, api.BindAttrs{})
	wantStatus(t, err, 403, "lacks privileges.create_sliver")
	if err := e.c.Bind(ctx, "princeton_test", rc, api.BindAttrs{}); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.rt.Sliver("princeton_test"); s.Spec.UIDBase != 100000 {
		t.Fatalf("rebind uid base %d, want the freed 100000", s.Spec.UIDBase)
	}

	if err := e.c.Release(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.rt.Sliver("princeton_test"); ok {
		t.Fatal("sliver still there after release")
	}
	calls := strings.Join(e.rt.Calls(), ",")
	if !strings.HasSuffix(calls, "stop princeton_test,destroy princeton_test") {
		t.Fatalf("release did not stop then destroy: %s", calls)
	}
	_, err = e.c.Query(ctx, rc)
	wantStatus(t, err, 403, "unknown, released or expired")
	wantStatus(t, e.c.Start(ctx, "princeton_test"), 404, "no sliver princeton_test")
	if err := e.c.Release(ctx, child); err != nil {
		t.Fatal(err)
	}
	if l, _ := e.c.List(ctx); len(l.Rcaps)+len(l.Slivers) != 0 {
		t.Fatalf("list after releasing everything: %+v", l)
	}
}

func wantStatus(t *testing.T, err error, status int, msg string) {
	t.Helper()
	var ce *api.NMCallError
	if !errors.As(err, &ce) || ce.Status != status || !strings.Contains(ce.Msg, msg) {
		t.Fatalf("got %v, want status %d with %q", err, status, msg)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPeerCredentials checks that a call's context carries the caller's
// pid and uid, as the kernel reports them.
func TestPeerCredentials(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("unix", sock)
		if err == nil {
			defer c.Close()
			c.Read(make([]byte, 1))
		}
	}()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cred, err := peercred.Of(c)
	p, ok := PeerFromContext(withPeer(context.Background(), cred, err == nil))
	if !ok || int(p.PID) != os.Getpid() || int(p.UID) != os.Getuid() {
		t.Fatalf("peer %+v, %v; want pid %d uid %d", p, ok, os.Getpid(), os.Getuid())
	}
}

// TestRcapsNotAtRest checks that neither the state directory nor list nor
// the log holds an rcap.
func TestRcapsNotAtRest(t *testing.T) {
	e := newEnv(t)
	var rcaps []api.Rcap
	for i := range 3 {
		rc := e.acquire(api.Rspec{Privileges: sliverRights})
		rcaps = append(rcaps, rc)
		if i == 0 {
			e.bind("princeton_a", rc)
			child, err := e.m.Split(context.Background(), rc, api.Rspec{})
			if err != nil {
				t.Fatal(err)
			}
			rcaps = append(rcaps, child)
		}
	}
	err := filepath.Walk(e.stateDir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		for _, rc := range rcaps {
			if bytes.Contains(data, []byte(rc)) {
				t.Errorf("%s holds rcap %s", path, rc)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
