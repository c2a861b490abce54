package verbs

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/cli"
	"github.com/orbisproject/orbis/internal/shaping"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestBwcapVerb: `orbis node bwcap 10mbit` records the cap where the
// node's shaping reads it, and `orbis node bwcap` shows it.
func TestBwcapVerb(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := runNode(context.Background(), &cli.Env{Stdout: &out, Stderr: &out}, append([]string{"bwcap", "--state", dir}, args...))
		return out.String(), err
	}
	if out, err := run(); err != nil || !strings.Contains(out, "100mbit (default") {
		t.Errorf("bwcap with none set: %q, %v", out, err)
	}
	if _, err := run("10mbit"); err != nil {
		t.Fatal(err)
	}
	if kbit, ok, err := shaping.ReadCap(dir); !ok || err != nil || kbit != 10000 {
		t.Errorf("cap file holds %d (%v, %v), want 10000", kbit, ok, err)
	}
	if out, err := run(); err != nil || strings.TrimSpace(out) != "10mbit" {
		t.Errorf("bwcap shows %q, %v", out, err)
	}
	if _, err := run("fast"); err == nil {
		t.Error("bwcap fast accepted")
	}
}
