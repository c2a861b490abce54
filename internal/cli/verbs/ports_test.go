package verbs

import (
	"os"
	"path/filepath"
	"testing"
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
