package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/testutil"
)

// startNM serves a node manager over a fake runtime on a socket in a
// temporary directory, returning the socket and the runtime.
func startNM(t *testing.T) (string, *nodemgr.FakeRuntime) {
	t.Helper()
	testutil.RequireRoot(t) // the node manager takes only host root for central
	dir, err := os.MkdirTemp("", "orbistest-nmcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	rt, _ := nodemgr.NewFakeRuntime("")
	ctx := testutil.Context(t)
	m, err := nodemgr.Open(ctx, nodemgr.Options{StateDir: filepath.Join(dir, "state"), Runtime: rt,
		Node: nodemgr.Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	sock := filepath.Join(dir, "nm.sock")
	l, err := nodemgr.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	go m.Serve(ctx, l)
	return sock, rt
}

// TestNM drives a node manager through `orbis nm`, JSON in and out.
func TestNM(t *testing.T) {
	sock, rt := startNM(t)

	run := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := Run(context.Background(), append(append([]string{"nm"}, args[:1]...), append([]string{"--socket", sock}, args[1:]...)...), strings.NewReader(stdin), &out, &out)
		return out.String(), err
	}
	out, err := run("", "acquire", `{"cpu_guarantee": 250, "privileges": {"create_sliver": true}}`)
	if err != nil {
		t.Fatal(err)
	}
	var acq struct{ Rcap string }
	if err := json.Unmarshal([]byte(out), &acq); err != nil || len(acq.Rcap) != 32 {
		t.Fatalf("acquire printed %q", out)
	}
	if _, err := run(`{"slice":"orbistest_cli","rcap":"`+acq.Rcap+`"}`, "bind"); err != nil {
		t.Fatal(err)
	}
	out, err = run(acq.Rcap, "query", "-")
	if err != nil || !strings.Contains(out, `"slice": "orbistest_cli"`) || !strings.Contains(out, `"cpu_guarantee": 250`) {
		t.Fatalf("query: %v\n%s", err, out)
	}
	out, err = run("", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, acq.Rcap) {
		t.Fatalf("list reveals the rcap:\n%s", out)
	}
	lines := strings.Split(out, "\n")
	if !strings.HasPrefix(lines[0], "RCAP") || !strings.Contains(lines[1], "orbistest_cli") ||
		!strings.Contains(out, "orbistest_cli  running  1") || !strings.Contains(out, "100000-165535") {
		t.Fatalf("list table:\n%s", out)
	}
	if out, err = run("", "list", "--json"); err != nil || !json.Valid([]byte(out)) {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if _, err := run("", "stop", "orbistest_cli"); err != nil {
		t.Fatal(err)
	}
	_, err = run("", "acquire", `{"cpu_guarantee": 800}`)
	if err == nil || err.Error() != "acquire: cpu_guarantee: 800 requested, 750 of 1000 free" {
		t.Fatalf("refused acquire: %v", err)
	}
	_, err = run("", "acquire", `{"cpu_guarantee": 1`)
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("bad JSON: %v", err)
	}
	if _, err := run(`{"rcap":"`+acq.Rcap+`"}`, "release"); err != nil {
		t.Fatal(err)
	}
	if _, ok := rt.Sliver("orbistest_cli"); ok {
		t.Fatal("sliver left after release")
	}
}

// TestNMReclaim: the operator releases a slice's rcap by the ID list
// shows, with `orbis nm reclaim ID`, destroying the sliver bound to it.
func TestNMReclaim(t *testing.T) {
	sock, rt := startNM(t)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), append([]string{"nm", args[0], "--socket", sock}, args[1:]...), strings.NewReader(""), &out, &out)
		return out.String(), err
	}
	out, err := run("acquire", `{"privileges": {"create_sliver": true}}`)
	var acq struct{ Rcap string }
	if err != nil || json.Unmarshal([]byte(out), &acq) != nil {
		t.Fatalf("acquire: %v %q", err, out)
	}
	if _, err := run("bind", `{"slice":"orbistest_cli","rcap":"`+acq.Rcap+`"}`); err != nil {
		t.Fatal(err)
	}
	out, err = run("query", acq.Rcap)
	var q struct{ ID string }
	if err != nil || json.Unmarshal([]byte(out), &q) != nil || len(q.ID) != 16 {
		t.Fatalf("query: %v %q", err, out)
	}
	if out, err := run("reclaim", q.ID); err != nil {
		t.Fatalf("reclaim %s: %v %q", q.ID, err, out)
	}
	if _, ok := rt.Sliver("orbistest_cli"); ok {
		t.Fatal("sliver left after reclaim")
	}
	if _, err := run("reclaim", q.ID); err == nil || !strings.Contains(err.Error(), "no rcap "+q.ID) {
		t.Fatalf("reclaim again: %v", err)
	}
}
