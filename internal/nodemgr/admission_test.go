package nodemgr

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestAdmissionRefusals fills each resource and checks the refusal names
// the resource and the shortfall exactly.
func TestAdmissionRefusals(t *testing.T) {
	testutil.RequireRoot(t) // the node manager takes only host root for central
	e := newEnv(t)
	ctx := context.Background()
	big := e.acquire(api.Rspec{CPUGuarantee: 800, MemoryGuarantee: 6 << 30, MemoryMax: 6 << 30,
		DiskGuarantee: 90 << 30, DiskMax: 90 << 30, Ports: []api.Port{{Proto: "tcp", Port: 80}}})
	q, _ := e.m.Query(ctx, big)
	tests := []struct {
		rs  api.Rspec
		msg string
	}{
		{api.Rspec{CPUGuarantee: 300}, "cpu_guarantee: 300 requested, 200 of 1000 free"},
		{api.Rspec{MemoryGuarantee: 3 << 30, MemoryMax: 3 << 30}, "memory_guarantee: 3221225472 requested, 2147483648 of 8589934592 free"},
		{api.Rspec{DiskGuarantee: 11 << 30, DiskMax: 11 << 30}, "disk_guarantee: 11811160064 requested, 10737418240 of 107374182400 free"},
		{api.Rspec{Ports: []api.Port{{Proto: "udp", Port: 80}, {Proto: "tcp", Port: 80}}}, "ports: tcp/80 is reserved by rcap " + q.ID},
	}
	for _, tc := range tests {
		_, err := e.m.Acquire(ctx, tc.rs)
		wantErr(t, err, ErrRefused, tc.msg)
	}
	// What is left can be had exactly.
	e.acquire(api.Rspec{CPUGuarantee: 200, MemoryGuarantee: 2 << 30, MemoryMax: 2 << 30, Ports: []api.Port{{Proto: "udp", Port: 80}}})
	_, err := e.m.Acquire(ctx, api.Rspec{CPUGuarantee: 1})
	wantErr(t, err, ErrRefused, "cpu_guarantee: 1 requested, 0 of 1000 free")
	// Releasing gives it back, and the refusal is a 409 over the socket.
	e.serve()
	_, err = e.c.Acquire(ctx, api.Rspec{CPUGuarantee: 300})
	wantStatus(t, err, 409, "cpu_guarantee: 300 requested, 0 of 1000 free")
	if err := e.c.Release(ctx, big); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Acquire(ctx, api.Rspec{CPUGuarantee: 300, Ports: []api.Port{{Proto: "tcp", Port: 80}}}); err != nil {
		t.Fatal(err)
	}
	// A restart keeps the account.
	e.reopen()
	_, err = e.m.Acquire(ctx, api.Rspec{CPUGuarantee: 501})
	wantErr(t, err, ErrRefused, "cpu_guarantee: 501 requested, 500 of 1000 free")
}

// TestSplitRefusals checks that a child cannot exceed its parent.
func TestSplitRefusals(t *testing.T) {
	e := newEnv(t)
	end := t0.Unix() + 3600
	parent := e.acquire(api.Rspec{CPUGuarantee: 100, CPUCap: true, MemoryMax: 1 << 20, End: end,
		NetMaxKByte: 1000, Ports: []api.Port{{Proto: "tcp", Port: 8000}}})
	tests := []struct {
		rs   api.Rspec
		kind error
		msg  string
	}{
		{api.Rspec{CPUGuarantee: 101, CPUCap: true}, ErrRefused, "cpu_guarantee: 101 requested, the parent holds 100"},
		{api.Rspec{CPUGuarantee: 100, CPUCap: true}, ErrRefused, "the parent is capped at its guarantee and must keep some"},
		{api.Rspec{MemoryGuarantee: 1}, ErrRefused, "memory_guarantee: 1 requested, the parent holds 0"},
		{api.Rspec{CPUGuarantee: 10}, ErrRefused, "cpu_cap: the parent is capped"},
		{api.Rspec{MemoryMax: 2 << 20, CPUGuarantee: 1, CPUCap: true}, ErrRefused, "memory_max: 2097152 exceeds the parent's 1048576"},
		{api.Rspec{NetMaxKByte: 2000, CPUGuarantee: 1, CPUCap: true}, ErrRefused, "net_max_kbyte: 2000 exceeds the parent's 1000"},
		{api.Rspec{End: end + 1, CPUGuarantee: 1, CPUCap: true}, ErrRefused, "end: " + fmt.Sprint(end+1) + " is after the parent's end"},
		{api.Rspec{Start: t0.Unix() - 10, CPUGuarantee: 1, CPUCap: true}, ErrRefused, "is before the parent's start"},
		{api.Rspec{Ports: []api.Port{{Proto: "tcp", Port: 8001}}, CPUGuarantee: 1, CPUCap: true}, ErrRefused, "ports: tcp/8001 is not reserved by the parent"},
		{api.Rspec{Privileges: sliverRights, CPUGuarantee: 1, CPUCap: true}, ErrDenied, "privileges.create_sliver: the parent does not hold it"},
		{api.Rspec{CPUShares: -1}, ErrInvalid, "cpu_shares: -1 is out of range (0 to 262144 shares)"},
	}
	for _, tc := range tests {
		_, err := e.m.Split(context.Background(), parent, tc.rs)
		wantErr(t, err, tc.kind, tc.msg)
	}
	child, err := e.m.Split(context.Background(), parent, api.Rspec{CPUGuarantee: 40, CPUCap: true})
	if err != nil {
		t.Fatal(err)
	}
	q, _ := e.m.Query(context.Background(), child)
	if q.Rspec.End != end || q.Rspec.MemoryMax != 1<<20 || q.Rspec.Start != t0.Unix() || q.Rspec.NetMaxKByte != 1000 {
		t.Fatalf("child did not inherit the parent's window and limits: %+v", q.Rspec)
	}
}

// TestSplitNeverCreates splits rcaps at random, some bound, some asking
// for too much, and checks after every step that the guarantees and ports
// of all rcaps add up to what the first rcap held, across a restart too.
func TestSplitNeverCreates(t *testing.T) {
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var ports []api.Port
	for p := range 20 {
		ports = append(ports, api.Port{Proto: []string{"tcp", "udp"}[p%2], Port: uint16(20000 + p)})
	}
	root := api.Rspec{CPUGuarantee: 1000, MemoryGuarantee: testNode.MemoryBytes, MemoryMax: testNode.MemoryBytes,
		DiskGuarantee: testNode.DiskBytes, DiskMax: testNode.DiskBytes, Ports: ports, Privileges: sliverRights}
	live := []api.Rcap{e.acquire(root)}
	e.bind("orbistest_root", live[0])
	check := func(step int) {
		t.Helper()
		l, _ := e.m.List(context.Background())
		var cpu, mem, disk int64
		seen := map[api.Port]bool{}
		for _, r := range l.Rcaps {
			cpu, mem, disk = cpu+r.Rspec.CPUGuarantee, mem+r.Rspec.MemoryGuarantee, disk+r.Rspec.DiskGuarantee
			for _, p := range r.Rspec.Ports {
				if seen[p] {
					t.Fatalf("step %d: port %v held twice", step, p)
				}
				seen[p] = true
			}
		}
		if cpu != 1000 || mem != root.MemoryGuarantee || disk != root.DiskGuarantee || len(seen) != len(ports) || len(l.Rcaps) != len(live) {
			t.Fatalf("step %d: totals cpu %d mem %d disk %d ports %d rcaps %d/%d, want %d %d %d %d", step,
				cpu, mem, disk, len(seen), len(l.Rcaps), len(live), 1000, root.MemoryGuarantee, root.DiskGuarantee, len(ports))
		}
	}
	refused := 0
	for step := range 400 {
		parent := live[rng.IntN(len(live))]
		q, err := e.m.Query(context.Background(), parent)
		if err != nil {
			t.Fatal(err)
		}
		p := q.Rspec
		req := api.Rspec{CPUGuarantee: rng.Int64N(p.CPUGuarantee/2 + 2), MemoryGuarantee: rng.Int64N(p.MemoryGuarantee/2 + 2),
			DiskGuarantee: rng.Int64N(p.DiskGuarantee/2 + 2), MemoryMax: p.MemoryMax, DiskMax: p.DiskMax,
			Privileges: sliverRights}
		if len(p.Ports) > 0 && rng.IntN(2) == 0 {
			req.Ports = []api.Port{p.Ports[rng.IntN(len(p.Ports))]}
		}
		child, err := e.m.Split(context.Background(), parent, req)
		switch {
		case err == nil:
			live = append(live, child)
			if rng.IntN(10) == 0 {
				e.bind(fmt.Sprintf("orbistest_s%d", step), child)
			}
		case req.CPUGuarantee > p.CPUGuarantee || req.MemoryGuarantee > p.MemoryGuarantee || req.DiskGuarantee > p.DiskGuarantee:
			refused++
		default:
			t.Fatalf("step %d: split %+v of %+v: %v", step, req, p, err)
		}
		check(step)
	}
	if refused == 0 {
		t.Fatal("no split asked for too much; the test does not test refusals")
	}
	e.reopen()
	check(-1)
	// Every bound sliver has its rcap's rspec.
	l, _ := e.m.List(context.Background())
	for _, s := range l.Slivers {
		fs, _ := e.rt.Sliver(s.Name)
		for _, r := range l.Rcaps {
			if r.ID == s.Rcap && fmt.Sprint(r.Rspec) != fmt.Sprint(fs.Spec.Rspec) {
				t.Fatalf("sliver %s runs %+v, its rcap holds %+v", s.Name, fs.Spec.Rspec, r.Rspec)
			}
		}
	}
}
