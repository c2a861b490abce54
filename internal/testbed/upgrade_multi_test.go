package testbed_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// otherCentral is a second `orbis central` process on the testbed's
// database, with a data directory of its own holding only a copy of the
// testbed central's CA (as on another machine).
type otherCentral struct {
	cmd *exec.Cmd
	url string
}

// startOtherCentral starts it on the host's bridge address.
func startOtherCentral(t *testing.T, cfg testbed.Config, st *testbed.State) *otherCentral {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.crt", "ca.key"} {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(st.CAFile), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tls", f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	u, err := url.Parse(st.CentralURL)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "central.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	c := &otherCentral{cmd: exec.Command(cfg.Binary, "central", "--addr", u.Hostname()+":0", "--data", dir, "--db", cfg.DB,
		"--admin-email", testbed.AdminEmail)}
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.kill)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("the other central's log:\n%s", b)
		}
	})
	re := regexp.MustCompile(`msg="central listening" url=(https://[0-9.]+:\d+)`)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logPath)
		if m := re.FindSubmatch(b); m != nil {
			c.url = string(m[1])
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other central did not start:\n%s", b)
		}
	}
}

// kill ends the process at once, as a crash would.
func (c *otherCentral) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// TestUpgradeThroughOtherCentral runs the testbed's central on PostgreSQL
// with a second central process on the same database (its own data
// directory, as on another machine) and publishes node agent builds
// through the second: the node, which follows the first, fetches,
// verifies and runs each (`orbis nodes list` through the first shows its
// version, the agent kept its pid), though it never spoke to the second;
// the second time the publishing process is killed as soon as the publish
// returns. The node checks for upgrades on a timer of minutes: only the
// wake-up across processes brings the builds within the test's deadline.
func TestUpgradeThroughOtherCentral(t *testing.T) {
	testutil.RequireRoot(t)
	cfg := testConfig(t, 1)
	cfg.OwnBinary, cfg.UpgradeCheck, cfg.DB = true, 5*time.Minute, pgtest.DB(t)
	st, _ := up(t, cfg)
	other := startOtherCentral(t, cfg, st)
	adm, err := testbed.ReadAdmin(st)
	if err != nil {
		t.Fatal(err)
	}
	v := centralVerifier(t, st)
	tok, err := api.NewCentralClientTLS(other.url, "", v).Login(context.Background(), adm.Email, adm.Password)
	if err != nil {
		t.Fatalf("login at the other central: %v", err)
	}
	n := st.Nodes[0]
	t.Cleanup(func() {
		if t.Failed() { // what the node said of upgrades
			b, _ := os.ReadFile(n.Log)
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(strings.ToLower(l), "upgrade") || strings.Contains(l, "level=ERROR") {
					t.Log(l)
				}
			}
		}
	})
	for round, kill := range []bool{false, true} {
		version := fmt.Sprintf("tb-multi-%d-%d", os.Getpid(), round)
		bin := buildVersion(t, version)
		f, err := os.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := f.Stat()
		start := time.Now()
		_, err = api.NewCentralClientTLS(other.url, tok, v).PublishUpgrade(context.Background(), version, runtime.GOARCH, f, fi.Size(), nil, 0)
		f.Close()
		if err != nil {
			t.Fatalf("publish %s through the other central: %v", version, err)
		}
		if kill {
			other.kill()
		}
		waitFor(t, "the node to run "+version, 90*time.Second, func() bool {
			return nodeVersions(t, st)[n.Hostname] == version && runsNewAgent(n)
		})
		t.Logf("round %d (publisher killed: %v): the node runs %s %v after the publish began", round, kill, version, time.Since(start))
		want, _ := os.ReadFile(bin)
		if got, _ := os.ReadFile(testbed.NodeBinary(&n)); !bytes.Equal(got, want) {
			t.Fatalf("round %d: the node runs an executable that is not the published build", round)
		}
		if !n.Proc.Alive() {
			t.Fatalf("round %d: the agent's pid %d is gone", round, n.Proc.Pid)
		}
	}
}
