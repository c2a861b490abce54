package rawsock

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/portmgr"
)

// fakeClaims stands in for the port manager's claims (Config.Claim).
type fakeClaims struct {
	mu       sync.Mutex
	live     map[string]int              // "slice proto/port" -> live claims
	revokers map[string][]portmgr.Revoke // "slice proto/port" -> each claim's Revoke
	refuse   string                      // when set, every claim is refused so
	// revokeNow, when set, revokes every claim as it is made, with this
	// reason: a reservation racing the bind.
	revokeNow string
}

func (f *fakeClaims) claim(slice, proto string, port uint16, revoke portmgr.Revoke) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != "" {
		return nil, &portmgr.NotHeldError{Reason: f.refuse}
	}
	k := fmt.Sprintf("%s %s/%d", slice, proto, port)
	f.live[k]++
	if f.revokers != nil {
		f.revokers[k] = append(f.revokers[k], revoke)
	}
	if f.revokeNow != "" {
		go revoke(f.revokeNow)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.live[k]--; f.live[k] == 0 {
				delete(f.live, k)
			}
		})
	}, nil
}

func (f *fakeClaims) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprint(f.live)
}

// TestClaimWhileBound: a TCP or UDP binding, raw or sniffer, holds a
// claim on its port from its bind until it ends; a refused claim is a
// refused bind, and leaves nothing claimed.
func TestClaimWhileBound(t *testing.T) {
	claims := &fakeClaims{live: map[string]int{}}
	c, dir, sock, uid := newServiceChain(t, func(cfg *Config) { cfg.Claim = claims.claim })
	at := startAttacker(t, c, dir, sock, uid, "tcp-listen:0.0.0.0:8793", "tcp/8793")
	at.wantBound(t)
	if got := claims.String(); !strings.HasPrefix(got, "map[") || !strings.Contains(got, " tcp/8793:2]") {
		t.Errorf("claims with a raw socket and a sniffer on tcp/8793: %s, want two", got)
	}
	at.stop(t)
	waitFor(t, "the claims to be released", func() bool { return claims.String() == "map[]" })

	claims.mu.Lock()
	claims.refuse = "tcp port 8794 is held by a raw socket of another slice"
	claims.mu.Unlock()
	at = startAttacker(t, c, dir, sock, uid, "tcp-listen:0.0.0.0:8794", "tcp/8794")
	for _, kind := range []string{"raw", "sniff"} {
		want := kind + ": refused=true raw socket service: " + claims.refuse
		if got := at.wait(t, kind+":"); got != want {
			t.Errorf("bind with its claim refused: %q, want %q", got, want)
		}
	}
	at.stop(t)
	if got := claims.String(); got != "map[]" {
		t.Errorf("claims after refused binds: %s", got)
	}
}

// revoke revokes every claim on k as the port manager's Reserve does
// (all at once) and returns when every Revoke has.
func (f *fakeClaims) revoke(k, reason string) int {
	f.mu.Lock()
	rs := f.revokers[k]
	delete(f.revokers, k)
	f.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { r(reason) })
	}
	wg.Wait()
	return len(rs)
}

// TestClaimRevoked: a reservation of the port takes it from a bound raw
// socket and sniffer. When their claims' Revoke returns, both bindings
// are released (claims given back, drop rule gone: a client's connection
// reaches the port, and the sniffer captures none of its packets), and
// the sliver was hung up on with the reason. A bind whose claim is
// revoked while it is being made does not outlive the revoke either.
func TestClaimRevoked(t *testing.T) {
	claims := &fakeClaims{live: map[string]int{}, revokers: map[string][]portmgr.Revoke{}}
	c, dir, sock, uid := newServiceChain(t, func(cfg *Config) {
		cfg.Claim = claims.claim
		cfg.RecheckEvery = time.Hour // only the revoke may end the bindings
	})
	at := startAttacker(t, c, dir, sock, uid, "tcp-listen:0.0.0.0:8795", "tcp/8795")
	at.wantBound(t)
	addr := netip.AddrPortFrom(c.a, 8795)
	var err error
	nettest.InNS(c.R, func() error { err = sendTo(addr, "before-revoke"); return nil })
	if err == nil {
		t.Fatalf("a client reached tcp/8795 under the attacker's raw socket")
	}
	reason := "tcp port 8795 is now reserved for slice victim by the node manager"
	var k string
	for key := range claims.live {
		k = key
	}
	start := time.Now()
	if n := claims.revoke(k, reason); n != 2 {
		t.Fatalf("revoked %d claims on %s, want the raw socket's and the sniffer's", n, k)
	}
	took := time.Since(start)
	t.Logf("revoke of a raw socket and a sniffer took %v", took)
	if got := claims.String(); got != "map[]" {
		t.Errorf("claims when the revoke returned: %s, want none", got)
	}
	nettest.InNS(c.R, func() error { err = sendTo(addr, "after-revoke"); return nil })
	if err != nil {
		t.Errorf("a client of the port when the revoke returned: %v (drop rule left)", err)
	}
	for _, kind := range []string{"raw", "sniff"} {
		if end := at.wait(t, kind+" end:"); !strings.Contains(end, reason) {
			t.Errorf("attacker's %s socket ended with %q, want the reason", kind, end)
		}
	}
	time.Sleep(200 * time.Millisecond)
	at.wantNoPacket(t, "after-revoke")
	at.stop(t)

	claims.mu.Lock()
	claims.revokeNow = reason
	claims.mu.Unlock()
	at = startAttacker(t, c, dir, sock, uid, "tcp-listen:0.0.0.0:8796", "tcp/8796")
	for _, kind := range []string{"raw", "sniff"} {
		got := at.wait(t, kind+":")
		if got == kind+": ok" {
			got = at.wait(t, kind+" end:")
		}
		if !strings.Contains(got, reason) {
			t.Errorf("the attacker's %s bind raced by a revoke: %q, want it refused or ended with the reason", kind, got)
		}
		t.Logf("raced %s bind: %s", kind, got)
	}
	waitFor(t, "the raced bindings' claims to be released", func() bool { return claims.String() == "map[]" })
	nettest.InNS(c.R, func() error { err = sendTo(netip.AddrPortFrom(c.a, 8796), "raced"); return nil })
	if err != nil {
		t.Errorf("a client of the port after a bind raced by a revoke: %v (drop rule left)", err)
	}
	time.Sleep(200 * time.Millisecond)
	at.wantNoPacket(t, "raced")
	at.stop(t)
}
