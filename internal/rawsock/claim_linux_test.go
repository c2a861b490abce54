package rawsock

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/internal/portmgr"
)

// fakeClaims stands in for the port manager's claims (Config.Claim).
type fakeClaims struct {
	mu     sync.Mutex
	live   map[string]int // "slice proto/port" -> live claims
	refuse string         // when set, every claim is refused so
}

func (f *fakeClaims) claim(slice, proto string, port uint16) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != "" {
		return nil, &portmgr.NotHeldError{Reason: f.refuse}
	}
	k := fmt.Sprintf("%s %s/%d", slice, proto, port)
	f.live[k]++
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
