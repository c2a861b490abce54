package install

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orbisproject/orbis/internal/testutil"
)

// fakeRoot makes a machine's tree to install into: the account files
// useradd edits, and nothing else.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "", "etc/gshadow": "",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// hostUnits records what the host has of Orbis's units and settings, to
// check that installing into a temporary root leaves them untouched.
func hostUnits() string {
	var b strings.Builder
	for _, r := range []Role{Central, Node} {
		for _, p := range []string{filepath.Join(UnitDir, r.UnitName()), r.ConfigFile(),
			filepath.Join(UnitDir, "multi-user.target.wants", r.UnitName())} {
			fi, err := os.Lstat(p)
			if err == nil {
				b.WriteString(p + " " + fi.ModTime().String() + "\n")
			}
		}
	}
	return b.String()
}

// TestInstallCentral installs central into a temporary root, installs it
// again, uninstalls it keeping its data, and purges it: each step leaves
// exactly its files, and the host's /etc is untouched throughout.
func TestInstallCentral(t *testing.T) {
	testutil.RequireRoot(t)
	root := fakeRoot(t)
	before := hostUnits()
	ctx := testutil.Context(t)
	var out bytes.Buffer
	o := Options{Role: Central, Root: root, Binary: DefaultBinary, DataDir: DefaultCentralData, User: DefaultUser,
		Args: []string{"--addr", ":443", "--tls-san", "plc.example.org"}, Start: true, Out: &out}
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	// Central ran as root from this directory before: install hands its
	// files to the service's user.
	old := filepath.Join(root, DefaultCentralData, "admin.json")
	if err := os.WriteFile(old, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Install(ctx, o); err != nil { // again: nothing breaks, nothing doubles
		t.Fatal(err)
	}
	t.Log(out.String())
	passwd := read(t, filepath.Join(root, "etc/passwd"))
	if strings.Count(passwd, "\norbis:") != 1 {
		t.Fatalf("passwd after two installs:\n%s", passwd)
	}
	uid, gid, err := lookupUser(filepath.Join(root, "etc/passwd"), "orbis")
	if err != nil || uid == 0 {
		t.Fatalf("central's user: uid %d, %v", uid, err)
	}
	for _, p := range []string{filepath.Join(root, DefaultCentralData), old} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Errorf("%s owned by %d:%d, want central's user %d:%d", p, st.Uid, st.Gid, uid, gid)
		}
	}
	env := filepath.Join(root, Central.ConfigFile())
	if got := read(t, env); !strings.Contains(got, "\nORBIS_ARGS=--addr :443 --tls-san plc.example.org\n") {
		t.Errorf("%s:\n%s", env, got)
	}
	if fi, _ := os.Stat(env); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", env, fi.Mode().Perm())
	}
	unit := filepath.Join(root, UnitDir, Central.UnitName())
	if got := read(t, unit); got != Unit(Central, UnitOptions{Binary: DefaultBinary, DataDir: DefaultCentralData, User: "orbis", LowPort: true}) {
		t.Errorf("unit:\n%s", got)
	}
	wants := filepath.Join(root, UnitDir, "multi-user.target.wants", Central.UnitName())
	if !exists(wants) {
		t.Error("unit not enabled")
	}

	if err := Uninstall(ctx, UninstallOptions{Role: Central, Root: root, Out: &out}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{unit, env, wants, filepath.Join(root, ConfigDir)} {
		if exists(p) {
			t.Errorf("%s left after uninstall", p)
		}
	}
	if !exists(old) || !strings.Contains(read(t, filepath.Join(root, "etc/passwd")), "\norbis:") {
		t.Error("uninstall without --purge lost central's data or user")
	}
	if err := Uninstall(ctx, UninstallOptions{Role: Central, Root: root, Out: &out}); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("second uninstall: %v, want not installed", err)
	}

	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := Uninstall(ctx, UninstallOptions{Role: Central, Root: root, Purge: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(root, DefaultCentralData)) {
		t.Error("purge kept the data directory")
	}
	if strings.Contains(read(t, filepath.Join(root, "etc/passwd")), "orbis") || strings.Contains(read(t, filepath.Join(root, "etc/group")), "orbis") {
		t.Error("purge kept central's user or group")
	}
	if after := hostUnits(); after != before {
		t.Errorf("the host's units changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestInstallNode installs the node agent; purge refuses while the node
// has a sliver and removes nothing, then works once the sliver is gone.
func TestInstallNode(t *testing.T) {
	testutil.RequireRoot(t)
	root := fakeRoot(t)
	ctx := testutil.Context(t)
	var out bytes.Buffer
	o := Options{Role: Node, Root: root, Binary: DefaultBinary, DataDir: DefaultNodeState,
		Args: []string{"--central", "https://plc.example.org:8780", "--token", "s3cret.2bc1"}, Out: &out}
	if err := Install(ctx, o); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(root, DefaultNodeState)
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("node state: %v %v", fi, err)
	}
	if strings.Contains(read(t, filepath.Join(root, "etc/passwd")), "orbis") {
		t.Error("the node made a user: its agent runs as root")
	}
	sliver := filepath.Join(state, "slivers", "pl_alive")
	if err := os.MkdirAll(sliver, 0o700); err != nil {
		t.Fatal(err)
	}
	err := Uninstall(ctx, UninstallOptions{Role: Node, Root: root, Purge: true, Out: &out})
	if err == nil || !strings.Contains(err.Error(), "still has 1 sliver") {
		t.Fatalf("purge of a node with a sliver: %v", err)
	}
	unit := filepath.Join(root, UnitDir, Node.UnitName())
	if !exists(sliver) || !exists(unit) || !exists(filepath.Join(root, UnitDir, "multi-user.target.wants", Node.UnitName())) {
		t.Fatal("a refused purge removed something")
	}
	if err := os.Remove(sliver); err != nil {
		t.Fatal(err)
	}
	if err := Uninstall(ctx, UninstallOptions{Role: Node, Root: root, Purge: true, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if exists(state) || exists(unit) || exists(filepath.Join(root, Node.ConfigFile())) {
		t.Error("purge left the node's files")
	}
}

// TestInstallRefuses: bad options get a clear error and write nothing.
func TestInstallRefuses(t *testing.T) {
	root := t.TempDir()
	ctx := testutil.Context(t)
	good := Options{Role: Central, Root: root, Binary: DefaultBinary, DataDir: DefaultCentralData, User: DefaultUser, Out: &bytes.Buffer{}}
	for name, mod := range map[string]func(*Options){
		"relative binary": func(o *Options) { o.Binary = "bin/orbis" },
		"root data":       func(o *Options) { o.DataDir = "/" },
		"shallow data":    func(o *Options) { o.DataDir = "/var" },
		"unclean data":    func(o *Options) { o.DataDir = "/var/lib/../lib/x" },
		"bad user":        func(o *Options) { o.User = "Root:0" },
		"data in /home":   func(o *Options) { o.DataDir = "/home/plc/data" },
		"bad role":        func(o *Options) { o.Role = "plc" },
		"spaced flag":     func(o *Options) { o.Args = []string{"--admin-email", "a b"} },
	} {
		o := good
		mod(&o)
		if err := Install(ctx, o); err == nil {
			t.Errorf("%s: installed", name)
		}
		if ents, _ := os.ReadDir(root); len(ents) > 0 {
			t.Fatalf("%s: refused install wrote %v", name, ents)
		}
	}
}
