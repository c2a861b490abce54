package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// TestUpgradeWaitDoesNotSpin: against a central that answers the waiting
// upgrade call at once with the same offer (one that does not hold it),
// or fails it, the agent asks again only every UpgradeCheck.
func TestUpgradeWaitDoesNotSpin(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusServiceUnavailable} {
		r := newUpgradeRig(t)
		var calls atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path == api.NodeUpgradePath {
				calls.Add(1)
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		r.u.check = 300 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
		r.u.run(ctx, api.NewNodeClient(srv.URL, 1, "secret", nil))
		cancel()
		// At most: the first call, the first waiting call, then one
		// every 300 ms.
		if n := calls.Load(); n < 2 || n > 7 {
			t.Errorf("answer %d: %d upgrade calls in 1.5 s with a 300 ms check, want 2 to 7", status, n)
		}
		r.assertOld()
	}
}
