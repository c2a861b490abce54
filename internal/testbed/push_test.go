package testbed_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/manifest"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// pushTree writes a tree of files small files and one app file.
func pushTree(t testing.TB, dir string, files int, app string) {
	for i := range files {
		p := filepath.Join(dir, "lib", fmt.Sprintf("f%03d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte{byte('a' + i%26)}, 4096+i), 0o644)
	}
	os.MkdirAll(filepath.Join(dir, ".orbis"), 0o755)
	os.WriteFile(filepath.Join(dir, "app"), []byte(app), 0o755)
	os.WriteFile(filepath.Join(dir, ".orbis/update"), []byte("#!/bin/sh\ncat app > /tmp/hook-saw\n"), 0o755)
}

// orbisPush runs `orbis slice push` in this process and returns its output.
func orbisPush(t testing.TB, st *testbed.State, token, slice, dir string) (string, error) {
	var out bytes.Buffer
	err := cli.Run(context.Background(), []string{"slice", "push", slice, dir, "--central", st.CentralURL, "--ca", st.CAFile, "--token", token, "--wait", "120s"},
		strings.NewReader(""), &out, &out)
	return out.String(), err
}

func userToken(t testing.TB, st *testbed.State, email string) string {
	tok, err := api.NewCentralClientTLS(st.CentralURL, "", centralVerifier(t, st)).Login(context.Background(), email, "testbed-password")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestSoftwarePush pushes a tree to a slice on every testbed node with
// `orbis slice push`, then changes one file and pushes again: every
// node installs each version and runs the hook, and the second push
// moves only the changed file (plus the manifest) to each node.
func TestSoftwarePush(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 3)
	st, _ := up(t, cfg)
	p := newPLC(t, st)
	key := newUser(t, p, "push@orbis.test")
	slice := testbed.Site + "_push"
	newSlice(p, slice, "push@orbis.test")
	p.call("AddSliceToNodes", slice, hostnames(st))
	waitRunning(t, p, slice, len(st.Nodes))
	tok := userToken(t, st, "push@orbis.test")

	dir := t.TempDir()
	pushTree(t, dir, 20, "version 1\n")
	out, err := orbisPush(t, st, tok, slice, dir)
	t.Logf("first push:\n%s", out)
	if err != nil || !strings.Contains(out, "3 node(s), 3 installed, 0 failed") {
		t.Fatalf("first push: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "app"), []byte("version 2\n"), 0o755)
	out, err = orbisPush(t, st, tok, slice, dir)
	t.Logf("second push:\n%s", out)
	if err != nil || !strings.Contains(out, "uploading 1 of 22 blob(s), 10 B") {
		t.Fatalf("second push: %v", err)
	}
	tree, _ := manifest.FromDir(dir)
	perNode := int64(len(tree.Manifest.Encode()) + len("version 2\n"))
	s, err := api.NewCentralClientTLS(st.CentralURL, tok, centralVerifier(t, st)).SoftwareStatus(context.Background(), slice)
	if err != nil || len(s.Nodes) != 3 {
		t.Fatalf("status: %+v %v", s, err)
	}
	for _, n := range s.Nodes {
		if n.State != api.SoftwareInstalled || n.BytesFetched != perNode || n.BlobsTotal-n.BlobsDone != 0 {
			t.Errorf("%s: %+v; want installed having fetched %d bytes (the manifest and one file)", n.Hostname, n.SoftwareReport, perNode)
		}
	}
	for _, n := range st.Nodes {
		if got := ssh(t, key, slice, n, "cat /opt/"+slice+"/app /tmp/hook-saw"); got != "version 2\nversion 2\n" {
			t.Errorf("%s: the sliver sees %q", n.Hostname, got)
		}
	}
	// The empty update answers at once and moves nothing.
	t0 := time.Now()
	out, err = orbisPush(t, st, tok, slice, dir)
	if err != nil || !strings.Contains(out, "(unchanged)") || strings.Contains(out, "uploading") || time.Since(t0) > 2*time.Second {
		t.Errorf("empty update took %v: %v\n%s", time.Since(t0), err, out)
	}
}

// BenchmarkSoftwarePush pushes to every node of a testbed of N nodes
// (ORBIS_PUSH_NODES, default 10): a first tree of 200 files (~840 KB),
// then one changed file, then the empty update; it reports the time
// until every node installed each, and the bytes the nodes fetched.
//
//	ORBIS_PUSH_NODES=50 go test -run XXX -bench SoftwarePush -benchtime 1x ./internal/testbed/
func BenchmarkSoftwarePush(b *testing.B) {
	testutil.RequireRoot(b)
	n, _ := strconv.Atoi(os.Getenv("ORBIS_PUSH_NODES"))
	if n <= 0 {
		n = 10
	}
	cfg := testConfig(b, n)
	cfg.Log = nil
	st, err := testbed.Up(context.Background(), cfg)
	defer testbed.Down(context.Background(), cfg)
	if err != nil {
		b.Fatalf("up %d nodes: %v", n, err)
	}
	p := newPLC(b, st)
	newUser(b, p, "bench@orbis.test")
	slice := testbed.Site + "_pushbench"
	newSlice(p, slice, "bench@orbis.test")
	p.call("AddSliceToNodes", slice, hostnames(st))
	waitFor(b, "slivers on every node", 5*time.Minute, func() bool {
		rows, _ := p.call("GetSliverReports", map[string]any{"name": slice}).([]any)
		return len(rows) == n
	})
	tok := userToken(b, st, "bench@orbis.test")
	client := api.NewCentralClientTLS(st.CentralURL, tok, centralVerifier(b, st))
	dir := b.TempDir()
	pushTree(b, dir, 200, "version 0\n")
	for i := 0; i < b.N; i++ {
		for _, step := range []string{"full", "one-file", "empty"} {
			switch step {
			case "full":
				pushTree(b, dir, 200, fmt.Sprintf("run %d\n", i)) // new app: the rest is cached after run 0
				if i > 0 {
					continue
				}
			case "one-file":
				os.WriteFile(filepath.Join(dir, "app"), []byte(fmt.Sprintf("run %d changed\n", i)), 0o755)
			}
			t0 := time.Now()
			out, err := orbisPush(b, st, tok, slice, dir)
			took := time.Since(t0)
			if err != nil {
				b.Fatalf("%s push: %v\n%s", step, err, out)
			}
			s, _ := client.SoftwareStatus(context.Background(), slice)
			var fetched int64
			for _, nd := range s.Nodes {
				fetched += nd.BytesFetched
			}
			b.ReportMetric(took.Seconds(), step+"-s")
			b.ReportMetric(float64(fetched), step+"-bytes-fetched")
			b.Logf("N=%d %s push: %.2f s, nodes fetched %d bytes in all\n%s", n, step, took.Seconds(), fetched, lastLine(out))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
