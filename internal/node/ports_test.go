package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/orbisproject/orbis/api"
)

// TestUIDResolver attributes UIDs to slivers by the ranges in their specs.
func TestUIDResolver(t *testing.T) {
	dir := t.TempDir()
	for name, spec := range map[string]string{
		"alice":  `{"name":"alice","uid_base":100000,"uid_count":65536}`,
		"bob":    `{"name":"bob","uid_base":165536,"uid_count":65536}`,
		"broken": `{`,
	} {
		os.Mkdir(filepath.Join(dir, name), 0o700)
		os.WriteFile(filepath.Join(dir, name, "spec.json"), []byte(spec), 0o600)
	}
	resolve := uidResolver(dir)
	for uid, want := range map[uint32]string{0: "", 99999: "", 100000: "alice", 165535: "alice", 165536: "bob", 231071: "bob", 231072: ""} {
		got, ok := resolve(uid)
		if got != want || ok != (want != "") {
			t.Errorf("resolve(%d) = %q, %v; want %q", uid, got, ok, want)
		}
	}
}

// TestServicePorts: the node's service addresses give the TCP ports no
// sliver may bind; a service turned off ("") or on port 0 gives none,
// and a malformed address is an error.
func TestServicePorts(t *testing.T) {
	got, err := servicePorts(":22", "", "127.0.0.1:33080", "[::1]:80", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	want := []api.Port{{Proto: "tcp", Port: 22}, {Proto: "tcp", Port: 33080}, {Proto: "tcp", Port: 80}}
	if !slices.Equal(got, want) {
		t.Errorf("servicePorts: %v, want %v", got, want)
	}
	for _, bad := range []string{"22", "host:ssh", "127.0.0.1:70000"} {
		if _, err := servicePorts(bad); err == nil {
			t.Errorf("servicePorts(%q): no error", bad)
		}
	}
}
