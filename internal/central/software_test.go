package central_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/manifest"
	"github.com/orbisproject/orbis/internal/node/rm"
)

// login returns a JSON API client for a person.
func login(t *testing.T, tc *testCentral, email, password string) *api.CentralClient {
	t.Helper()
	tok, err := api.NewCentralClient(tc.url, "").Login(context.Background(), email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return api.NewCentralClient(tc.url, tok)
}

func treeOf(t *testing.T, files map[string]string) *manifest.Tree {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644)
	}
	tree, err := manifest.FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// upload sends the blobs central says it lacks and returns how many.
func upload(t *testing.T, c *api.CentralClient, slice string, tree *manifest.Tree) (int, error) {
	t.Helper()
	hashes, _ := tree.Manifest.Blobs()
	missing, err := c.SoftwareMissing(context.Background(), slice, hashes)
	if err != nil {
		return 0, err
	}
	need := map[string]bool{}
	for _, h := range missing {
		need[h] = true
	}
	_, _, err = c.SoftwareUpload(context.Background(), slice, func(w io.Writer) error {
		return tree.EachBlob(need, func(h string, size int64, r io.Reader) error { return api.WriteBlobFrame(w, h, size, r) })
	})
	return len(missing), err
}

func status(err error) int {
	var ce *api.CentralError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

// TestSoftwarePushCentral: only the slice's people may push; central
// asks only for what it lacks; a manifest whose blobs are missing is
// refused; the quota holds with a clear error; the slice's nodes get the
// manifest in their sliver list and can fetch it and its blobs, and other
// nodes cannot.
func TestSoftwarePushCentral(t *testing.T) {
	tc := startCentralWith(t, central.Config{SoftwareQuota: 64 << 10})
	ctx := context.Background()
	site := tc.call(t, "AddSite", map[string]any{"name": "Test", "abbreviated_name": "T", "login_base": "ts", "max_slices": 5, "enabled": true})
	for _, p := range []string{"user@orbis.test", "other@orbis.test"} {
		tc.call(t, "AddPerson", map[string]any{"first_name": "A", "last_name": "B", "email": p, "password": "password-123"})
		tc.call(t, "UpdatePerson", p, map[string]any{"enabled": true})
		tc.call(t, "AddRoleToPerson", "user", p)
		tc.call(t, "AddPersonToSite", p, "ts")
	}
	tc.call(t, "AddSlice", map[string]any{"name": "ts_sw", "url": "http://t", "description": "software"})
	tc.call(t, "AddPersonToSlice", "user@orbis.test", "ts_sw")
	var creds [2]rm.Credentials
	for i, host := range []string{"n0.orbis.test", "n1.orbis.test"} {
		id := tc.call(t, "AddNode", site, map[string]any{"hostname": host})
		tok := tc.call(t, "AddNodeToken", id).(string)
		c, err := rm.Register(ctx, t.TempDir(), tc.url, api.Trust{}, api.NodeRegisterRequest{Token: tok, Hostname: host})
		if err != nil {
			t.Fatal(err)
		}
		creds[i] = c
	}
	tc.call(t, "AddSliceToNodes", "ts_sw", []any{"n0.orbis.test"})
	user := login(t, tc, "user@orbis.test", "password-123")
	other := login(t, tc, "other@orbis.test", "password-123")
	tree := treeOf(t, map[string]string{"a": "alpha", "b/c": "gamma"})
	data := tree.Manifest.Encode()

	// Authorization.
	if _, err := api.NewCentralClient(tc.url, "").SoftwareMissing(ctx, "ts_sw", nil); status(err) != 401 {
		t.Errorf("anonymous: %v, want 401", err)
	}
	if _, err := other.SoftwareMissing(ctx, "ts_sw", nil); status(err) != 403 {
		t.Errorf("a person outside the slice: %v, want 403", err)
	}
	if _, err := other.SoftwareSetManifest(ctx, "ts_sw", "", data); status(err) != 403 {
		t.Errorf("a person outside the slice setting the manifest: %v, want 403", err)
	}

	// The manifest is refused until its blobs are at central.
	if _, err := user.SoftwareSetManifest(ctx, "ts_sw", "", data); status(err) != 409 {
		t.Errorf("manifest before its blobs: %v, want 409", err)
	}
	if n, err := upload(t, user, "ts_sw", tree); n != 2 || err != nil {
		t.Fatalf("first upload: %d blobs, %v", n, err)
	}
	res, err := user.SoftwareSetManifest(ctx, "ts_sw", "", data)
	if err != nil || !res.Changed || res.Dest != "/opt/ts_sw" || res.Manifest != manifest.Hash(data) {
		t.Fatalf("set manifest: %+v %v", res, err)
	}
	// One changed file: central asks for exactly that blob.
	tree2 := treeOf(t, map[string]string{"a": "alpha", "b/c": "gamma 2"})
	if n, err := upload(t, user, "ts_sw", tree2); n != 1 || err != nil {
		t.Errorf("second upload: %d blobs, %v; want 1", n, err)
	}
	// Pushing the same manifest again changes nothing.
	if res, err := user.SoftwareSetManifest(ctx, "ts_sw", "", data); err != nil || res.Changed {
		t.Errorf("same manifest again: %+v %v, want unchanged", res, err)
	}
	// The quota (64 KiB) holds.
	big := treeOf(t, map[string]string{"big": strings.Repeat("x", 100<<10)})
	if _, err := upload(t, user, "ts_sw", big); status(err) != 413 || !strings.Contains(err.Error(), "quota") {
		t.Errorf("upload over the quota: %v, want 413 naming the quota", err)
	}

	// The node of the slice sees the software and fetches it.
	n0 := creds[0].Client()
	list, err := n0.Slivers(ctx, -1)
	if err != nil || len(list.Slivers) != 1 || list.Slivers[0].Software == nil || list.Slivers[0].Software.Manifest != res.Manifest {
		t.Fatalf("node 0's list: %+v %v", list, err)
	}
	got, err := n0.SoftwareManifest(ctx, "ts_sw", res.Manifest)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("node manifest: %v", err)
	}
	hashes, _ := tree.Manifest.Blobs()
	var fetched int
	err = n0.SoftwareBlobs(ctx, "ts_sw", hashes, func(h string, size int64, r io.Reader) error {
		b, _ := io.ReadAll(r)
		if manifest.Hash(b) != h {
			t.Errorf("blob %s has hash %s", h, manifest.Hash(b))
		}
		fetched++
		return nil
	})
	if err != nil || fetched != 2 {
		t.Errorf("node blobs: %d, %v", fetched, err)
	}
	// Another node may not.
	var ne *api.NodeCallError
	if _, err := creds[1].Client().SoftwareManifest(ctx, "ts_sw", res.Manifest); !errors.As(err, &ne) || ne.Status != 404 {
		t.Errorf("node without the slice fetched its manifest: %v", err)
	}
	// Reports reach the status.
	n0.SoftwareReport(ctx, []api.SoftwareReport{{Slice: "ts_sw", Manifest: res.Manifest, State: api.SoftwareInstalled, BytesFetched: 10}})
	st, err := user.SoftwareStatus(ctx, "ts_sw")
	if err != nil || len(st.Nodes) != 1 || st.Nodes[0].Hostname != "n0.orbis.test" || st.Nodes[0].State != api.SoftwareInstalled {
		t.Errorf("status: %+v %v", st, err)
	}
	// A status call that waits answers at once when every node is
	// done, and otherwise when the last one reports.
	t0 := time.Now()
	if _, err := user.SoftwareStatusWait(ctx, "ts_sw", 20*time.Second); err != nil || time.Since(t0) > 10*time.Second {
		t.Errorf("status wait with every node done: %v after %v", err, time.Since(t0))
	}
	res2, err := user.SoftwareSetManifest(ctx, "ts_sw", "", tree2.Manifest.Encode())
	if err != nil || !res2.Changed {
		t.Fatalf("second manifest: %+v %v", res2, err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		n0.SoftwareReport(ctx, []api.SoftwareReport{{Slice: "ts_sw", Manifest: res2.Manifest, State: api.SoftwareInstalled}})
	}()
	t0 = time.Now()
	st, err = user.SoftwareStatusWait(ctx, "ts_sw", 20*time.Second)
	if took := time.Since(t0); err != nil || took < 250*time.Millisecond || took > 10*time.Second || len(st.Nodes) != 1 || st.Nodes[0].Manifest != res2.Manifest {
		t.Errorf("status wait for the node's report: %+v %v after %v", st, err, took)
	}
}
