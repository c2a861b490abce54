package nodemgr

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/api"
)

func openTestRecords(t *testing.T, dir string) *records {
	t.Helper()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	rs := newRecords(st, newUIDAllocator(100000, 4, nil))
	t.Cleanup(func() { rs.close() })
	return rs
}

// TestRecordsIndexes: a new sliver takes the lowest free UID range and is
// bound to its rcap; a pool rcap is its broker's; deleting them frees the
// range and the pool, and the next sliver gets the range back.
func TestRecordsIndexes(t *testing.T) {
	rs := openTestRecords(t, t.TempDir())
	pool := &rcapRecord{Hash: testHash(1), Owner: principalCentral, Account: principalCentral, Maker: principalCentral, PoolOf: "pl_broker"}
	if err := rs.putRcap(pool); err != nil {
		t.Fatal(err)
	}
	if h, ok := rs.poolOf("pl_broker"); !ok || h != pool.Hash {
		t.Errorf("poolOf(pl_broker) = %v, %v", h.id(), ok)
	}
	a := &sliverRecord{Name: "pl_a", Rcap: pool.Hash, State: sliverCreating}
	b := &sliverRecord{Name: "pl_b", Rcap: testHash(2), State: sliverCreating}
	for _, s := range []*sliverRecord{a, b} {
		if err := rs.newSliver(s); err != nil {
			t.Fatal(err)
		}
	}
	if a.UIDBase != 100000 || b.UIDBase != 100000+UIDRangeSize {
		t.Errorf("UID bases %d, %d", a.UIDBase, b.UIDBase)
	}
	if got := rs.sliceOfUID(b.UIDBase + 1000); got != "pl_b" {
		t.Errorf("sliceOfUID in b's range = %q", got)
	}
	if got := rs.sliceOfUID(99999); got != "" {
		t.Errorf("sliceOfUID below the ranges = %q", got)
	}
	if s, r := rs.sliverRcap("pl_a"); s != a || r != pool {
		t.Errorf("sliverRcap(pl_a) = %v, %v", s, r)
	}
	if got := rs.boundName(pool.Hash); got != "pl_a" {
		t.Errorf("bound to the pool: %q", got)
	}
	gone := sliverRecord{Name: "pl_gone", Rcap: pool.Hash, State: sliverDestroying}
	if err := rs.newSliver(&gone); err != nil {
		t.Fatal(err)
	}
	if err := rs.delSliver(&gone); err != nil {
		t.Fatal(err)
	}
	if got := rs.boundName(pool.Hash); got != "pl_a" {
		t.Errorf("another slice's destroyed sliver dropped the binding: %q", got)
	}
	n := *a
	n.State = sliverDestroying
	if err := rs.saveSliver(a, n); err != nil {
		t.Fatal(err)
	}
	if got := rs.boundName(pool.Hash); got != "" {
		t.Errorf("a destroying sliver is still bound: %q", got)
	}
	if err := rs.delSliver(a); err != nil {
		t.Fatal(err)
	}
	if err := rs.delRcap(pool.Hash); err != nil {
		t.Fatal(err)
	}
	if _, ok := rs.poolOf("pl_broker"); ok || rs.rcap(pool.Hash) != nil || rs.sliver("pl_a") != nil {
		t.Error("deleted records are still there")
	}
	c := &sliverRecord{Name: "pl_c", Rcap: testHash(3)}
	if err := rs.newSliver(c); err != nil {
		t.Fatal(err)
	}
	if c.UIDBase != a.UIDBase {
		t.Errorf("the freed range %d was not handed out again (got %d)", a.UIDBase, c.UIDBase)
	}
}

// TestRecordsWriteFirst: a change whose write fails changes nothing in
// memory, and what a reopened store loads is what memory said.
func TestRecordsWriteFirst(t *testing.T) {
	dir := t.TempDir()
	rs := openTestRecords(t, dir)
	r := &rcapRecord{Hash: testHash(1), Rspec: checkedRspec{api.Rspec{CPUGuarantee: 10}}, Owner: principalCentral, Account: principalCentral, Maker: principalCentral}
	if err := rs.putRcap(r); err != nil {
		t.Fatal(err)
	}
	s := &sliverRecord{Name: "pl_a", Rcap: r.Hash, State: sliverReady}
	if err := rs.newSliver(s); err != nil {
		t.Fatal(err)
	}
	// Break the rcaps directory: writes fail, even for root.
	rdir := filepath.Join(dir, kindRcap)
	if err := os.RemoveAll(rdir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rdir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n := *r
	n.Rspec.CPUGuarantee = 20
	if err := rs.saveRcap(r, n); err == nil {
		t.Fatal("saveRcap into a broken directory succeeded")
	}
	if r.Rspec.CPUGuarantee != 10 {
		t.Errorf("a failed write changed memory: cpu_guarantee %d", r.Rspec.CPUGuarantee)
	}
	if err := rs.putRcap(&rcapRecord{Hash: testHash(2)}); err == nil || rs.rcap(testHash(2)) != nil {
		t.Errorf("putRcap into a broken directory: %v, in memory: %v", err, rs.rcap(testHash(2)) != nil)
	}
	ns := *s
	ns.State = sliverDestroying
	if err := rs.saveSliver(s, ns); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(rdir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(rdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := rs.writeRcap(r); err != nil {
		t.Fatal(err)
	}
	rs.close()

	again := openTestRecords(t, dir)
	if _, err := again.load(); err != nil {
		t.Fatal(err)
	}
	if got := again.rcap(r.Hash); got == nil || got.Rspec.CPUGuarantee != 10 {
		t.Errorf("reloaded rcap %+v", got)
	}
	if got := again.sliver("pl_a"); got == nil || got.State != sliverDestroying || got.UIDBase != s.UIDBase {
		t.Errorf("reloaded sliver %+v", got)
	}
}

// TestRecordsLoadFinishesReturns: a child whose parent names it as
// absorbed (a release a crash cut between the parent's write and the
// child's delete) is deleted at load.
func TestRecordsLoadFinishesReturns(t *testing.T) {
	dir := t.TempDir()
	rs := openTestRecords(t, dir)
	child := &rcapRecord{Hash: testHash(2), Parent: testHash(1).id()}
	parent := &rcapRecord{Hash: testHash(1), Absorbed: child.Hash.String()}
	for _, r := range []*rcapRecord{parent, child} {
		if err := rs.putRcap(r); err != nil {
			t.Fatal(err)
		}
	}
	rs.close()
	again := openTestRecords(t, dir)
	done, err := again.load()
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 1 || again.rcap(child.Hash) != nil || again.rcap(parent.Hash) == nil {
		t.Errorf("finished %v; child live %v", done, again.rcap(child.Hash) != nil)
	}
	if _, err := os.Stat(filepath.Join(dir, kindRcap, child.Hash.String()+".json")); !os.IsNotExist(err) {
		t.Errorf("the child's record is still on disk: %v", err)
	}
	if got := again.rcap(parent.Hash); got.Owner != principalCentral || got.Maker != principalCentral {
		t.Errorf("an old record got no owner: %+v", got)
	}
}

// TestRecordsConcurrent: lookups race with changes without harm (run with
// -race).
func TestRecordsConcurrent(t *testing.T) {
	rs := openTestRecords(t, t.TempDir())
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			h := testHash(byte(10 + i))
			for range 20 {
				if err := rs.putRcap(&rcapRecord{Hash: h}); err != nil {
					t.Error(err)
					return
				}
				rs.boundName(h)
				rs.rcapList()
				rs.sliceOfUID(100000)
				if err := rs.delRcap(h); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := len(rs.rcapList()); n != 0 {
		t.Errorf("%d rcaps left", n)
	}
}
