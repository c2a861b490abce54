package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestImageBuildAndList(t *testing.T) {
	testutil.RequireRoot(t)
	ctx, state := testutil.Context(t), t.TempDir()
	var out, errOut bytes.Buffer
	// Flags after the name work too.
	if err := Run(ctx, []string{"image", "build", "tiny", "--kind", "busybox", "--state", state}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("image build: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "linked") || !strings.Contains(errOut.String(), "image tiny: built") {
		t.Errorf("build progress = %q", errOut.String())
	}
	if err := Run(ctx, []string{"image", "build", "--state", state, "busybox"}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("image build busybox (kind from name): %v", err)
	}
	out.Reset()
	if err := Run(ctx, []string{"image", "list", "--state", state}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") {
		t.Fatalf("image list:\n%s", out.String())
	}
	// Columns line up: KIND starts at the same offset on every line.
	col := strings.Index(lines[0], "KIND")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col:col+len("busybox")] != "busybox" {
			t.Errorf("misaligned row %q (KIND at %d)", l, col)
		}
	}
	out.Reset()
	if err := Run(ctx, []string{"image", "list", "--json", "--state", state}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var imgs []rootfs.Image
	if err := json.Unmarshal(out.Bytes(), &imgs); err != nil || len(imgs) != 2 || imgs[0].Name != "busybox" || imgs[1].Files == 0 {
		t.Fatalf("image list --json = %s (%v)", out.String(), err)
	}
	if err := Run(ctx, []string{"image", "rm", "tiny", "--state", state}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	Run(ctx, []string{"image", "list", "--json", "--state", state}, strings.NewReader(""), &out, &errOut)
	if strings.Contains(out.String(), "tiny") {
		t.Errorf("tiny still listed after rm: %s", out.String())
	}
}

func TestImageUsage(t *testing.T) {
	state := t.TempDir()
	for _, args := range [][]string{
		{"image"},
		{"image", "frob"},
		{"image", "build", "--state", state},
		{"image", "build", "a", "b", "--state", state},
		{"image", "list", "extra", "--state", state},
		{"image", "list", "--nope"},
	} {
		err := Run(testutil.Context(t), args, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
		var u *UsageError
		if !errors.As(err, &u) {
			t.Errorf("%q: err %v, want a usage error", args, err)
		}
	}
	err := Run(testutil.Context(t), []string{"image", "build", "x", "--kind", "solaris", "--state", state}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "unknown image kind") {
		t.Errorf("unknown kind: %v", err)
	}
}
