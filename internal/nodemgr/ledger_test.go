package nodemgr

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/api"
)

func testHash(b byte) rcapHash { return rcapHash{b} }

// TestLedgerReserveRelease: the ledger sums what it reserved, refuses what
// does not fit with the resource and the shortfall, and frees exactly what
// it released.
func TestLedgerReserveRelease(t *testing.T) {
	node := Node{MemoryBytes: 100, DiskBytes: 1000}
	l := newLedger()
	a, b := testHash(1), testHash(2)
	tcp80 := api.Port{Proto: "tcp", Port: 80}
	big := checkedRspec{api.Rspec{CPUGuarantee: 600, MemoryGuarantee: 60, DiskGuarantee: 600, Ports: []api.Port{tcp80}}}
	if err := l.admit(node, nil, principalCentral, big.Rspec); err != nil {
		t.Fatal(err)
	}
	l.reserve(a, principalCentral, big)
	for _, c := range []struct {
		rs   api.Rspec
		want string
	}{
		{api.Rspec{CPUGuarantee: 401}, "cpu_guarantee: 401 requested, 400 of 1000 free"},
		{api.Rspec{MemoryGuarantee: 41}, "memory_guarantee: 41 requested, 40 of 100 free"},
		{api.Rspec{DiskGuarantee: 401}, "disk_guarantee: 401 requested, 400 of 1000 free"},
		{api.Rspec{Ports: []api.Port{tcp80}}, "ports: tcp/80 is reserved by rcap " + a.id()},
	} {
		err := l.admit(node, nil, principalCentral, c.rs)
		if !errors.Is(err, ErrRefused) || err.Error() != c.want {
			t.Errorf("admit %+v = %v, want %q", c.rs, err, c.want)
		}
	}
	if owner, ok := l.portOwner(tcp80); !ok || owner != a {
		t.Errorf("portOwner(tcp/80) = %v, %v; want rcap a", owner.id(), ok)
	}
	// Replacing a's rspec counts a's own as free: the same again fits.
	if err := l.admitInstead(node, nil, a, principalCentral, big, big.Rspec); err != nil {
		t.Errorf("admitInstead of the same rspec: %v", err)
	}
	if l.total.of("cpu_guarantee") != 600 || l.total.of("memory_guarantee") != 60 || l.total.of("disk_guarantee") != 600 {
		t.Errorf("admitInstead changed the totals: %+v", l.total)
	}
	small := checkedRspec{api.Rspec{CPUGuarantee: 100}}
	l.move(a, principalCentral, big, small)
	if _, ok := l.portOwner(tcp80); ok {
		t.Error("a port a gave up is still reserved")
	}
	l.reserve(b, principalCentral, checkedRspec{api.Rspec{CPUGuarantee: 900}})
	l.release(a, principalCentral, small)
	l.release(b, principalCentral, checkedRspec{api.Rspec{CPUGuarantee: 900}})
	if !l.total.zero() || len(l.byAccount) != 0 || len(l.ports) != 0 {
		t.Errorf("after releasing everything: total %+v, accounts %v, ports %v", l.total, l.byAccount, l.ports)
	}
}

// TestLedgerPolicy: a broker account is held to its share, the node to
// the policy's bandwidth cap, and a split to its account's net_min_rate.
func TestLedgerPolicy(t *testing.T) {
	node := Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}
	p := &Policy{BandwidthKbit: 1000, Brokers: map[string]BrokerShare{"pl_broker": {CPUGuarantee: 100, MemoryGuarantee: -1, DiskGuarantee: -1, NetMinRate: 50, Slivers: -1}}}
	l := newLedger()
	broker := slicePrincipal("pl_broker")
	l.reserve(testHash(1), broker, checkedRspec{api.Rspec{CPUGuarantee: 80, NetMinRate: 40}})
	for _, c := range []struct {
		account string
		rs      api.Rspec
		want    string
	}{
		{broker, api.Rspec{CPUGuarantee: 21}, "cpu_guarantee: 21 requested, but slice:pl_broker may hold 100 on this node (local policy) and holds 80"},
		{broker, api.Rspec{NetMinRate: 11}, "net_min_rate: 11 requested, but slice:pl_broker may hold 50 on this node (local policy) and holds 40"},
		{principalCentral, api.Rspec{NetMinRate: 961}, "net_min_rate: 961 kbit/s requested, 960 of the node's 1000 kbit/s (local policy) free"},
		{slicePrincipal("pl_other"), api.Rspec{CPUGuarantee: 1}, "cpu_guarantee: 1 requested, but slice:pl_other may hold 0 on this node (local policy) and holds 0"},
	} {
		if err := l.admit(node, p, c.account, c.rs); err == nil || err.Error() != c.want {
			t.Errorf("admit(%s, %+v) = %v, want %q", c.account, c.rs, err, c.want)
		}
	}
	if err := l.admit(node, p, broker, api.Rspec{CPUGuarantee: 20, NetMinRate: 10}); err != nil {
		t.Errorf("what is left of the share: %v", err)
	}
	if err := l.admitSplit(p, broker, checkedRspec{api.Rspec{CPUGuarantee: 500, NetMinRate: 11}}); err == nil || !strings.HasPrefix(err.Error(), "net_min_rate: 11 requested") {
		t.Errorf("a split's net_min_rate beyond the share: %v", err)
	}
}

// TestLedgerConcurrent: the ledger keeps its sums under concurrent use
// (run with -race).
func TestLedgerConcurrent(t *testing.T) {
	l := newLedger()
	node := Node{MemoryBytes: 1 << 40, DiskBytes: 1 << 40}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			h := testHash(byte(i))
			rs := checkedRspec{api.Rspec{MemoryGuarantee: 1 << 20, Ports: []api.Port{{Proto: "udp", Port: uint16(2000 + i)}}}}
			for range 200 {
				if err := l.admit(node, nil, principalCentral, rs.Rspec); err != nil {
					t.Error(err)
					return
				}
				l.reserve(h, principalCentral, rs)
				l.portOwner(rs.Ports[0])
				l.release(h, principalCentral, rs)
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.total.zero() || len(l.ports) != 0 {
		t.Errorf("after balanced reserves and releases: total %+v, ports %v", l.total, l.ports)
	}
}

// TestLedgerSumsEveryGuarantee: the ledger sums every guarantee of the
// resource table, per node and per account, with no field of its own for
// any: a guarantee added to the table is counted as it is.
func TestLedgerSumsEveryGuarantee(t *testing.T) {
	var rs api.Rspec
	n := 0
	for i := range api.Resources {
		if r := &api.Resources[i]; r.Kind == api.Guarantee {
			r.Set(&rs, int64(i+1))
			n++
		}
	}
	if n == 0 || len(guarantees) != n {
		t.Fatalf("the table has %d guarantees, the ledger sums %d", n, len(guarantees))
	}
	l := newLedger()
	acct := slicePrincipal("pl_a")
	l.reserve(testHash(1), acct, checkedRspec{rs})
	l.reserve(testHash(2), acct, checkedRspec{rs})
	for i := range api.Resources {
		r := &api.Resources[i]
		if r.Kind != api.Guarantee {
			continue
		}
		if got := l.total.of(r.Name); got != 2*int64(i+1) {
			t.Errorf("node total of %s = %d, want %d", r.Name, got, 2*(i+1))
		}
		if got := l.byAccount[acct].of(r.Name); got != 2*int64(i+1) {
			t.Errorf("account total of %s = %d, want %d", r.Name, got, 2*(i+1))
		}
	}
	l.release(testHash(1), acct, checkedRspec{rs})
	l.release(testHash(2), acct, checkedRspec{rs})
	if !l.total.zero() || len(l.byAccount) != 0 {
		t.Errorf("after releasing both: total %v, accounts %v", l.total, l.byAccount)
	}
}
