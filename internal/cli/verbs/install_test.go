package verbs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/install"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestVerbs runs `orbis install` and `orbis uninstall` as the command
// line does: the flags after -- land in the settings file, central gets
// its default address, and mistakes are usage errors that write nothing.
func TestVerbs(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	root := fakeRoot(t)
	var out, errOut bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errOut}
	if err := runInstall(ctx, env, []string{"node", "--root", root, "--bin", "/usr/bin/orbis", "--",
		"--central", "https://plc.example.org:8780", "--token", "s.2bc1", "--ssh-addr", ":22"}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, install.Node.ConfigFile())); !strings.Contains(got, "\nORBIS_ARGS=--central https://plc.example.org:8780 --token s.2bc1 --ssh-addr :22\n") {
		t.Errorf("node.env:\n%s", got)
	}
	if err := runInstall(ctx, env, []string{"central", "--root", root, "--bin", "/usr/bin/orbis"}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(root, install.Central.ConfigFile())); !strings.Contains(got, "\nORBIS_ARGS=--addr :8780\n") {
		t.Errorf("central.env:\n%s", got)
	}
	for _, args := range [][]string{
		{}, {"plc"}, {"node", "--bogus"}, {"central", "--root", root, "--bin", "/usr/bin/orbis", "--", "--data", "/srv/x"},
		{"central", "--root", root, "--bin", "/usr/bin/orbis", "--", "--admin-email", "a b"},
	} {
		var u *cli.UsageError
		if err := runInstall(ctx, env, args); !errors.As(err, &u) {
			t.Errorf("install %q: %v, want a usage error", args, err)
		}
	}
	if got := read(t, filepath.Join(root, install.Central.ConfigFile())); !strings.Contains(got, "\nORBIS_ARGS=--addr :8780\n") {
		t.Errorf("a refused install changed central.env:\n%s", got)
	}
	for _, role := range []string{"node", "central"} {
		if err := runUninstall(ctx, env, []string{role, "--root", root, "--purge"}); err != nil {
			t.Fatal(err)
		}
	}
	var u *cli.UsageError
	if err := runUninstall(ctx, env, []string{"node", "--root", root, "extra"}); !errors.As(err, &u) {
		t.Errorf("uninstall with an extra argument: %v", err)
	}
}

// fakeRoot is a machine's root with the account files that adding
// central's user edits.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "etc/group": "root:x:0:\n",
		"etc/shadow": "", "etc/gshadow": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o600); err != nil {
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
