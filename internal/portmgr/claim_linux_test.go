package portmgr

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// claimFixture is a fixture whose Manager knows alice's and bob's
// cgroups, with a port inside the ephemeral range.
func claimFixture(t testing.TB) (*fixture, *Manager, uint16) {
	f := newFixture(t)
	m := f.open(t)
	for owner, dir := range map[string]string{"alice": f.alice, "bob": f.bob} {
		if err := m.Reserve(testutil.Context(t), owner, dir, nil); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
	}
	lo, hi, err := ephemeralRange("/proc")
	if err != nil {
		t.Fatal(err)
	}
	return f, m, lo + uint16(os.Getpid())%(hi-lo)
}

func (f *fixture) listed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(f.localReserved)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func mustClaim(t *testing.T, m *Manager, owner string, p api.Port) func() {
	t.Helper()
	release, err := m.Claim(owner, p, func(string) {})
	if err != nil {
		t.Fatalf("Claim(%s, %v): %v", owner, p, err)
	}
	return release
}

// TestClaim: a port claimed for alice's raw socket binds for alice only,
// on every kind of socket of its protocol, until the last of her claims
// on it is released; bob cannot claim it meanwhile.
func TestClaim(t *testing.T) {
	f, m, _ := claimFixture(t)
	tcp := api.Port{Proto: "tcp", Port: f.hi}
	tcpKinds := allKinds(f.hi)[:3]
	first := mustClaim(t, m, "alice", tcp)
	second := mustClaim(t, m, "alice", tcp) // a sniffer beside the raw socket
	f.expect(t, "bob", f.bob, bobUID, "EPERM", tcpKinds...)
	f.expect(t, "root in bob's cgroup", f.bob, 0, "EPERM", tcpKinds...)
	f.expect(t, "alice", f.aliceInner, aliceUID, "ok", tcpKinds...)
	f.expect(t, "bob, udp", f.bob, bobUID, "ok", allKinds(f.hi)[3:]...)

	var nh *NotHeldError
	if _, err := m.Claim("bob", tcp, func(string) {}); !errors.As(err, &nh) || !strings.Contains(err.Error(), "raw socket of another slice") {
		t.Errorf("bob claiming alice's claimed port: %v", err)
	}
	if _, err := m.Claim("carol", api.Port{Proto: "udp", Port: f.hi}, func(string) {}); err == nil || !strings.Contains(err.Error(), "no cgroup") {
		t.Errorf("a claim for an owner without a cgroup: %v", err)
	}
	if es, err := m.List(); err != nil || !strings.Contains(fmt.Sprint(es), fmt.Sprintf("{tcp %d alice claimed}", f.hi)) {
		t.Errorf("List = %v, %v; want alice's claim", es, err)
	}

	first()
	first() // a second call of one release does nothing
	f.expect(t, "bob, one claim left", f.bob, bobUID, "EPERM", tcpKinds...)
	second()
	f.expect(t, "bob, released", f.bob, bobUID, "ok", tcpKinds...)
	if _, err := m.Claim("bob", tcp, func(string) {}); err != nil {
		t.Errorf("bob claiming the released port: %v", err)
	}
}

// TestReserveRevokesClaim: a reservation wins over another owner's
// claims. Bob's Reserve of the port alice's two raw sockets claim (one
// inside the ephemeral range's listing) succeeds; both of alice's sockets
// are revoked, told the port and bob's name, before Reserve returns; then
// bob binds the port and alice cannot, neither claim it again; alice's
// late releases do not touch the port, and a claim of alice on another
// port lives on.
func TestReserveRevokesClaim(t *testing.T) {
	f, m, e := claimFixture(t)
	tcp := api.Port{Proto: "tcp", Port: f.hi}
	other := api.Port{Proto: "udp", Port: e}
	var mu sync.Mutex
	var reasons []string
	revoke := func(reason string) {
		time.Sleep(50 * time.Millisecond) // a socket that takes its time to close
		mu.Lock()
		reasons = append(reasons, reason)
		mu.Unlock()
	}
	var releases []func()
	for range 2 {
		release, err := m.Claim("alice", tcp, revoke)
		if err != nil {
			t.Fatal(err)
		}
		releases = append(releases, release)
	}
	kept, err := m.Claim("alice", other, func(string) { t.Errorf("alice's claim on %v revoked", other) })
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reserve(testutil.Context(t), "bob", f.bob, []api.Port{tcp}); err != nil {
		t.Fatalf("bob reserving alice's claimed port: %v", err)
	}
	mu.Lock()
	got := slices.Clone(reasons)
	mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("alice's sockets revoked when Reserve returned: %d of 2 (%q)", len(got), got)
	}
	for _, r := range got {
		if !strings.Contains(r, fmt.Sprintf("tcp port %d is now reserved for slice bob", f.hi)) {
			t.Errorf("revoke reason %q: want the port and bob", r)
		}
	}
	tcpKinds := allKinds(f.hi)[:3]
	f.expect(t, "bob", f.bob, bobUID, "ok", tcpKinds...)
	f.expect(t, "alice", f.aliceInner, aliceUID, "EPERM", tcpKinds...)
	var nh *NotHeldError
	if _, err := m.Claim("alice", tcp, revoke); !errors.As(err, &nh) {
		t.Errorf("alice claiming bob's reserved port: %v", err)
	}
	for _, release := range releases {
		release()
	}
	f.expect(t, "alice, after her late releases", f.aliceInner, aliceUID, "EPERM", tcpKinds...)
	if es, err := m.List(); err != nil || strings.Contains(fmt.Sprint(es), fmt.Sprintf("{tcp %d alice claimed}", f.hi)) ||
		!strings.Contains(fmt.Sprint(es), fmt.Sprintf("{udp %d alice claimed}", e)) {
		t.Errorf("List = %v, %v; want alice's claim on %v only", es, err, other)
	}
	if got := f.listed(t); got != fmt.Sprint(e) {
		t.Errorf("listed: %q, want alice's kept claim's %d", got, e)
	}
	kept()
}

// TestClaimEphemeral: a claimed port inside the ephemeral range is listed
// in ip_local_reserved_ports while any claim on its number lives, and an
// entry the operator made stays.
func TestClaimEphemeral(t *testing.T) {
	f, m, e := claimFixture(t)
	udp := mustClaim(t, m, "alice", api.Port{Proto: "udp", Port: e})
	tcp := mustClaim(t, m, "alice", api.Port{Proto: "tcp", Port: e})
	outside := mustClaim(t, m, "alice", api.Port{Proto: "tcp", Port: f.hi})
	if got := f.listed(t); got != fmt.Sprint(e) {
		t.Errorf("listed with two claims on %d and one outside the range: %q", e, got)
	}
	udp()
	if got := f.listed(t); got != fmt.Sprint(e) {
		t.Errorf("listed after one of two claims on %d: %q", e, got)
	}
	tcp()
	outside()
	if got := f.listed(t); got != "" {
		t.Errorf("listed after the last claim: %q", got)
	}

	os.WriteFile(f.localReserved, []byte(fmt.Sprintf("%d-%d\n", e, e+1)), 0o644)
	mustClaim(t, m, "alice", api.Port{Proto: "udp", Port: e})()
	if got := f.listed(t); got != fmt.Sprintf("%d-%d", e, e+1) {
		t.Errorf("the operator's entry after a claim: %q", got)
	}
}

// TestClaimsDropped: no claim outlives its Manager. A Manager that
// closes drops its claims; one started over a crashed Manager's pins
// drops the claims pinned there, and their ip_local_reserved_ports
// entries.
func TestClaimsDropped(t *testing.T) {
	f, m, e := claimFixture(t)
	mustClaim(t, m, "alice", api.Port{Proto: "tcp", Port: f.hi})
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	f.expect(t, "bob, manager closed", f.bob, bobUID, "ok", allKinds(f.hi)[:3]...)

	crashed := f.open(t)
	if err := crashed.Reserve(testutil.Context(t), "alice", f.alice, nil); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, crashed, "alice", api.Port{Proto: "udp", Port: e})
	mustClaim(t, crashed, "alice", api.Port{Proto: "tcp", Port: f.hi})
	f.expect(t, "bob, claimed", f.bob, bobUID, "EPERM", "tcp4:"+fmt.Sprint(f.hi), "udp4:"+fmt.Sprint(e))
	f.open(t) // crashed never closes: its successor finds its pins
	f.expect(t, "bob, after a restart", f.bob, bobUID, "ok", "tcp4:"+fmt.Sprint(f.hi), "udp4:"+fmt.Sprint(e))
	if got := f.listed(t); got != "" {
		t.Errorf("listed after a restart: %q", got)
	}
}

// BenchmarkClaim is what a raw socket's bind and close add: a claim and
// its release, outside the ephemeral range and inside it (a file stands
// in for ip_local_reserved_ports).
func BenchmarkClaim(b *testing.B) {
	for _, c := range []struct {
		name string
		port func(f *fixture, e uint16) uint16
	}{
		{"outside", func(f *fixture, _ uint16) uint16 { return f.hi }},
		{"ephemeral", func(_ *fixture, e uint16) uint16 { return e }},
	} {
		b.Run(c.name, func(b *testing.B) {
			f, m, e := claimFixture(b)
			m.cfg.Log = slog.New(slog.DiscardHandler)
			p := api.Port{Proto: "udp", Port: c.port(f, e)}
			for b.Loop() {
				release, err := m.Claim("alice", p, func(string) {})
				if err != nil {
					b.Fatal(err)
				}
				release()
			}
		})
	}
}
