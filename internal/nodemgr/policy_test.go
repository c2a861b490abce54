package nodemgr

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

const samplePolicy = `# a site's policy
bandwidth 50mbit
max_slivers 3
broker central cpu_guarantee=500 memory_guarantee=2G net_min_rate=40mbit slivers=3
broker pl_broker cpu_guarantee=100 net_min_rate=1mbit   # thousandths
broker * slivers=0
`

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy([]byte(samplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	if p.BandwidthKbit != 50000 || p.MaxSlivers != 3 {
		t.Fatalf("policy %+v", p)
	}
	c := p.share("central")
	if c.CPUGuarantee != 500 || c.MemoryGuarantee != 2<<30 || c.Slivers != 3 || c.DiskGuarantee != 0 || c.NetMinRate != 40000 {
		t.Fatalf("central's share %+v", c)
	}
	if s := p.share("slice:pl_other"); s != (BrokerShare{}) {
		t.Fatalf("default share %+v", s)
	}
	for _, bad := range []struct{ text, msg string }{
		{"bandwidth lots", `line 1: "lots" is not a rate`},
		{"\nbroker pl_x cpu=5", `line 2: broker pl_x: unknown key "cpu"`},
		{"max_slivers -1", "line 1: \"-1\" is not a count"},
		{"broker central\nbroker central", "line 2: broker central: given twice"},
		{"broker Bad/Name", "want central, a slice name"},
		{"limit 5", `unknown statement "limit"`},
	} {
		if _, err := ParsePolicy([]byte(bad.text)); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%q: error %v, want %q", bad.text, err, bad.msg)
		}
	}
}

// TestPolicyEnforced: acquires beyond a broker's share, slivers beyond
// max_slivers and beyond a broker's slivers are refused, with the policy's
// reason.
func TestPolicyEnforced(t *testing.T) {
	e := newEnv(t)
	p, err := ParsePolicy([]byte(samplePolicy))
	if err != nil {
		t.Fatal(err)
	}
	e.m.SetPolicy(p)
	e.acquire(api.Rspec{CPUGuarantee: 400})
	_, err = e.m.Acquire(context.Background(), api.Rspec{CPUGuarantee: 200})
	wantErr(t, err, ErrRefused, "cpu_guarantee: 200 requested, but central may hold 500 on this node (local policy) and holds 400")
	_, err = e.m.Acquire(context.Background(), api.Rspec{NetMinRate: 60000})
	wantErr(t, err, ErrRefused, "net_min_rate")

	e.broker("pl_broker", api.Rspec{Slivers: 5})
	b := e.as("pl_broker")
	if _, err := e.m.Acquire(b, api.Rspec{End: soon, CPUGuarantee: 100, Privileges: sliverRights}); err != nil {
		t.Fatalf("broker within its share: %v", err)
	}
	_, err = e.m.Acquire(b, api.Rspec{End: soon, CPUGuarantee: 1})
	wantErr(t, err, ErrRefused, "slice:pl_broker may hold 100")

	e.bind("pl_two", e.acquire(api.Rspec{Privileges: sliverRights}))
	e.bind("pl_three", e.acquire(api.Rspec{Privileges: sliverRights}))
	err = e.m.Bind(context.Background(), "pl_four", e.acquire(api.Rspec{Privileges: sliverRights}), api.BindAttrs{})
	wantErr(t, err, ErrRefused, "this node runs at most 3 (local policy)")

	// A stricter policy leaves central over its cpu share: it may still
	// take what the policy does not hold it over, not more cpu.
	strict, err := ParsePolicy([]byte("broker central cpu_guarantee=100 disk_guarantee=1G net_min_rate=1mbit slivers=9\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.m.SetPolicy(strict)
	if _, err := e.m.Acquire(context.Background(), api.Rspec{DiskGuarantee: 1 << 20}); err != nil {
		t.Fatalf("acquire no cpu while over the cpu share: %v", err)
	}
	_, err = e.m.Acquire(context.Background(), api.Rspec{CPUGuarantee: 1})
	wantErr(t, err, ErrRefused, "cpu_guarantee: 1 requested, but central may hold 100")

	e.m.SetPolicy(nil)
	if err := e.m.Bind(context.Background(), "pl_four", e.acquire(api.Rspec{Privileges: sliverRights}), api.BindAttrs{}); err != nil {
		t.Fatalf("without a policy: %v", err)
	}
}

// TestReloadPolicy: a reload applies the file's policy; a file that does
// not parse, or an empty one, leaves the last good policy (apply is not
// called) and says why; a removed file lifts it.
func TestReloadPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy")
	var got []*Policy
	apply := func(p *Policy) { got = append(got, p) }
	reload := func(data string) error {
		t.Helper()
		if data == "" {
			os.Remove(path)
		} else if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return ReloadPolicy(path, testutil.Logger(t), apply)
	}
	if err := reload("max_slivers 7\n"); err != nil || len(got) != 1 || got[0].MaxSlivers != 7 {
		t.Fatalf("first policy: %v, %+v", err, got)
	}
	if err := reload("max_slivers lots\n"); err == nil || !strings.Contains(err.Error(), "line 1") || len(got) != 1 {
		t.Fatalf("a bad file: %v (%d applied)", err, len(got))
	}
	if err := reload("  \n"); err == nil || len(got) != 1 {
		t.Fatalf("an empty file: %v (%d applied)", err, len(got))
	}
	if err := reload("max_slivers 9\n"); err != nil || len(got) != 2 || got[1].MaxSlivers != 9 {
		t.Fatalf("the new policy: %v, %+v", err, got)
	}
	if err := reload(""); err != nil || len(got) != 3 || got[2] != nil {
		t.Fatalf("a removed file: %v, %+v", err, got)
	}
}

// TestSplitPolicy: a split adds the child's net_min_rate (a limit parent
// and child both keep) to the node's total and the account's, so it is
// refused beyond the policy's bandwidth or the broker's net_min_rate
// share, as an acquire would be.
func TestSplitPolicy(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := ParsePolicy([]byte("bandwidth 100\nbroker central cpu_guarantee=1000 net_min_rate=90\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.m.SetPolicy(p)
	parent := e.acquire(api.Rspec{CPUGuarantee: 100, NetMinRate: 40})
	if _, err := e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 10, NetMinRate: 40}); err != nil {
		t.Fatalf("split within the policy: %v", err)
	}
	_, err = e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 10, NetMinRate: 20})
	wantErr(t, err, ErrRefused, "net_min_rate: 20 requested, but central may hold 90 on this node (local policy) and holds 80")

	p, err = ParsePolicy([]byte("bandwidth 100\n")) // no share bounds central; the bandwidth still does
	if err != nil {
		t.Fatal(err)
	}
	e.m.SetPolicy(p)
	_, err = e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 10, NetMinRate: 40})
	wantErr(t, err, ErrRefused, "net_min_rate: 40 kbit/s requested, 20 of the node's 100 kbit/s (local policy) free")
	if _, err := e.m.Split(ctx, parent, api.Rspec{CPUGuarantee: 10, NetMinRate: 20}); err != nil {
		t.Fatalf("split that fills the bandwidth: %v", err)
	}
	if q, err := e.m.Query(ctx, parent); err != nil || q.Rspec.CPUGuarantee != 80 {
		t.Fatalf("parent after two splits and two refusals: %+v, %v (want cpu_guarantee 80)", q.Rspec, err)
	}
}

// TestPolicyLineBoundsEverything performs issue 18's hoard: under the
// documented "broker * slivers=0", a node manager slice acquires
// cpu_guarantee 450 and memory_guarantee 6G without end, and under a line
// that names only cpu_guarantee it takes memory and disk. A key left out
// is zero: every such acquire is refused, and the node keeps its
// guarantees.
func TestPolicyLineBoundsEverything(t *testing.T) {
	e := newEnv(t)
	nm := api.Privileges{CreateSliver: true, NodeManager: true}
	e.bind("pl_hoard", e.acquire(api.Rspec{Privileges: nm}))
	e.bind("pl_sharp", e.acquire(api.Rspec{Privileges: nm}))
	p, err := ParsePolicy([]byte("broker pl_sharp cpu_guarantee=100 net_min_rate=1mbit slivers=1\nbroker * slivers=0\n"))
	if err != nil {
		t.Fatal(err)
	}
	e.m.SetPolicy(p)
	for _, rs := range []api.Rspec{{CPUGuarantee: 450}, {MemoryGuarantee: 6 << 30, MemoryMax: 6 << 30}, {DiskGuarantee: 1 << 30}, {}} {
		_, err := e.m.Acquire(e.as("pl_hoard"), rs)
		wantErr(t, err, ErrRefused, "slice:pl_hoard may hold 0 on this node (local policy)")
	}
	for _, rs := range []api.Rspec{{MemoryGuarantee: 1}, {DiskGuarantee: 1}} {
		_, err := e.m.Acquire(e.as("pl_sharp"), rs)
		wantErr(t, err, ErrRefused, "slice:pl_sharp may hold 0 on this node (local policy)")
	}
	if _, err := e.m.Acquire(e.as("pl_sharp"), api.Rspec{CPUGuarantee: 100, End: soon}); err != nil {
		t.Fatalf("an acquire within the line: %v", err)
	}
	if tot := e.m.ledger.total; tot.of("cpu_guarantee") != 100 || tot.of("memory_guarantee") != 0 || tot.of("disk_guarantee") != 0 {
		t.Fatalf("the node's guarantees after the hoard: %+v", e.m.ledger.total)
	}
}

// TestPolicyFileBounded performs issue 18's bloat: a 200 MB policy file
// (and a FIFO, which would block a read) is refused without being read
// into memory; a reload of it leaves the last good policy in force.
func TestPolicyFileBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "policy")
	if err := os.WriteFile(big, []byte("max_slivers 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 200<<20); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := LoadPolicy(big)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "over 1048576 bytes") {
		t.Fatalf("a 200 MB policy file: %v", err)
	}
	grew := after.TotalAlloc - before.TotalAlloc
	if grew > 4<<20 {
		t.Errorf("reading a 200 MB policy file allocated %d bytes", grew)
	}
	t.Logf("refusing a 200 MB policy file allocated %d bytes", grew)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicy(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("a FIFO as the policy file: %v", err)
	}

	var got []*Policy
	err = ReloadPolicy(big, testutil.Logger(t), func(p *Policy) { got = append(got, p) })
	if err == nil || len(got) != 0 {
		t.Errorf("reloading a 200 MB policy file: %v, applied %+v", err, got)
	}
}
