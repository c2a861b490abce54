package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestNMCreate: `orbis nm create` acquires and binds in one call, and
// prints the rcap; a create whose bind fails leaves no rcap behind.
func TestNMCreate(t *testing.T) {
	sock, rt := startNM(t)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), append([]string{"nm", args[0], "--socket", sock}, args[1:]...), strings.NewReader(""), &out, &out)
		return out.String(), err
	}
	rcaps := func() int {
		t.Helper()
		out, err := run("list", "--json")
		var l struct{ Rcaps []json.RawMessage }
		if err != nil || json.Unmarshal([]byte(out), &l) != nil {
			t.Fatalf("list: %v %q", err, out)
		}
		return len(l.Rcaps)
	}
	out, err := run("create", `{"slice": "orbistest_mk", "rspec": {"cpu_shares": 2}, "attrs": {"initscript": "echo hi"}}`)
	var got struct{ Rcap string }
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got.Rcap) != 32 {
		t.Fatalf("create: %v %q", err, out)
	}
	s, ok := rt.Sliver("orbistest_mk")
	if !ok || s.Spec.Rspec.CPUShares != 2 || s.Spec.InitScript != "echo hi" {
		t.Fatalf("sliver after create: %+v %v", s, ok)
	}
	if _, err := run("release", got.Rcap); err != nil {
		t.Fatalf("release the printed rcap: %v", err)
	}
	if _, ok := rt.Sliver("orbistest_mk"); ok {
		t.Fatal("sliver left after releasing the created rcap")
	}

	before := rcaps()
	if _, err := run("create", `{"slice": "Not A Slice", "rspec": {}}`); err == nil || !strings.Contains(err.Error(), "bind") {
		t.Fatalf("create with a bad slice name: %v", err)
	}
	if n := rcaps(); n != before {
		t.Errorf("a failed create left %d rcaps, want %d", n, before)
	}
	if _, err := run("create", `{"rspec": {}}`); err == nil || !strings.Contains(err.Error(), "no slice") {
		t.Errorf("create without a slice: %v", err)
	}
}
