package rm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestRegister registers a node with a token, checks its credentials are
// kept privately and work, and that a second start does not need the
// (now used) token.
func TestRegister(t *testing.T) {
	e := newEnv(t)
	e.src.AddToken("tok-1", 7)
	dir := t.TempDir()
	ctx := testutil.Context(t)
	req := api.NodeRegisterRequest{Token: "tok-1", Hostname: "n7.example.org", IP: "192.0.2.7", Version: "test"}
	c, err := Register(ctx, dir, e.srv.URL, api.Trust{}, req)
	if err != nil || c.NodeID != 7 {
		t.Fatalf("register: %+v, %v", c, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, credsFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v (want mode 0600)", fi, err)
	}
	again, err := Register(ctx, dir, e.srv.URL, api.Trust{}, req)
	if err != nil || again != c {
		t.Fatalf("second register: %+v, %v (want the saved %+v)", again, err, c)
	}
	if l, err := again.Client().Slivers(ctx, -1); err != nil || l.NodeID != 7 {
		t.Fatalf("slivers with saved credentials: %+v, %v", l, err)
	}
	if _, err := Register(ctx, t.TempDir(), e.srv.URL, api.Trust{}, req); err == nil {
		t.Fatal("a used token registered again")
	}
}
