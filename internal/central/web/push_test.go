package web_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/manifest"
	"github.com/orbisproject/orbis/internal/node/rm"
)

// TestPushProgress: after a user pushes software to a slice on two
// nodes, its page shows how many installed it and each node's report;
// another site's PI, who may not push to it, sees no progress.
func TestPushProgress(t *testing.T) {
	tc := startCentral(t)
	w := tc.world(t)
	ctx := context.Background()
	tc.call(t, "AddSlice", map[string]any{"name": "pt_sw", "url": "http://x", "description": "x"})
	tc.call(t, "AddPersonToSlice", w.user, "pt_sw")
	var nodes []*api.NodeClient
	for _, host := range []string{"n0.pt.test", "n1.pt.test"} {
		id := tc.call(t, "AddNode", w.site, map[string]any{"hostname": host})
		c, err := rm.Register(ctx, t.TempDir(), tc.url, api.Trust{}, api.NodeRegisterRequest{Token: tc.call(t, "AddNodeToken", id).(string), Hostname: host})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, c.Client())
	}
	tc.call(t, "AddSliceToNodes", "pt_sw", []any{"n0.pt.test", "n1.pt.test"})

	tok, err := api.NewCentralClient(tc.url, "").Login(ctx, w.user, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	cc := api.NewCentralClient(tc.url, tok)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	tree, err := manifest.FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	hashes, _ := tree.Manifest.Blobs()
	need := map[string]bool{}
	for _, h := range hashes {
		need[h] = true
	}
	if _, _, err := cc.SoftwareUpload(ctx, "pt_sw", func(w io.Writer) error {
		return tree.EachBlob(need, func(h string, size int64, r io.Reader) error { return api.WriteBlobFrame(w, h, size, r) })
	}); err != nil {
		t.Fatal(err)
	}
	res, err := cc.SoftwareSetManifest(ctx, "pt_sw", "", tree.Manifest.Encode())
	if err != nil {
		t.Fatal(err)
	}
	nodes[0].SoftwareReport(ctx, []api.SoftwareReport{{Slice: "pt_sw", Manifest: res.Manifest, State: api.SoftwareInstalled, BlobsDone: 1, BlobsTotal: 1}})
	nodes[1].SoftwareReport(ctx, []api.SoftwareReport{{Slice: "pt_sw", Manifest: res.Manifest, State: api.SoftwareFailed, BlobsDone: 0, BlobsTotal: 1, Reason: "disk full"}})

	user, atk := tc.client(t), tc.client(t)
	user.signin(w.user)
	atk.signin(w.atk)
	user.get("/slices/pt_sw")
	for _, want := range []string{
		"Tree <code>" + res.Manifest[:12] + "</code> into <code>/opt/pt_sw</code>",
		"installed on 1 of 2 node(s)", "failed on 1",
		`<th scope="row">n1.pt.test</th><td class="state state-failed">failed</td><td class="num">0 of 1</td><td>disk full</td>`,
	} {
		if !strings.Contains(user.last, want) {
			t.Errorf("slice page lacks %q", want)
		}
	}
	if atk.get("/slices/pt_sw"); strings.Contains(atk.last, res.Manifest[:12]) {
		t.Error("another site's PI sees the slice's push")
	}
}
