package debpkg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/install"
	"github.com/orbisproject/orbis/internal/testutil"
)

// buildPackage builds the programs as `make build` does, with version v,
// and packages them.
func buildPackage(t *testing.T, v string) string {
	t.Helper()
	bin := t.TempDir()
	pkgs := map[string]string{"orbis": "./cmd/orbis", "orbis-init": "./internal/sandbox/cmd/orbis-init", "ping-orbis": "./internal/rawsock/cmd/ping-orbis",
		"plabdump": "./internal/rawsock/cmd/plabdump", "orbis-lease": "./internal/broker/cmd/orbis-lease",
		"orbis-admin": "./internal/admin/cmd/orbis-admin"}
	// orbis-idle is C (the Makefile's IDLE_CC).
	cc := "cc"
	if p, err := exec.LookPath("musl-gcc"); err == nil {
		cc = p
	}
	idle := exec.Command(cc, "-static", "-Os", "-s", "-Wall", "-o", filepath.Join(bin, "orbis-idle"), "internal/sandbox/cmd/orbis-idle/idle.c")
	idle.Dir = "../../.."
	if out, err := idle.CombinedOutput(); err != nil {
		t.Fatalf("build orbis-idle: %v\n%s", err, out)
	}
	if len(pkgs)+1 != len(Programs) {
		t.Fatalf("the test builds %d programs, the package holds %d", len(pkgs)+1, len(Programs))
	}
	for name, pkg := range pkgs {
		cmd := exec.Command("go", "build", "-ldflags", "-X github.com/orbisproject/orbis/internal/cli.Version="+v, "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = "../../.."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	out := filepath.Join(t.TempDir(), "orbis.deb")
	if err := Build(Options{BinDir: bin, Doc: "../../../docs/deploy.md", Version: v, Arch: "amd64", Out: out}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPackage checks the package with dpkg-deb, then installs it for real
// with dpkg -i, runs the installed `orbis version`, and removes it with
// dpkg --purge: the programs and units come and go, no unit is enabled.
func TestPackage(t *testing.T) {
	testutil.RequireRoot(t)
	v := fmt.Sprintf("0.0.%d", time.Now().Unix())
	start := time.Now()
	deb := buildPackage(t, v)
	t.Logf("built the programs and the package in %v", time.Since(start).Round(time.Millisecond))
	info, err := exec.Command("dpkg-deb", "--info", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --info: %v\n%s", err, info)
	}
	for _, want := range []string{"Package: orbis\n", "Version: " + v + "\n", "Architecture: amd64\n", " postinst "} {
		if !strings.Contains(string(info), want) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
		}
	}
	contents, err := exec.Command("dpkg-deb", "--contents", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, contents)
	}
	var installed []string
	for _, p := range Programs {
		installed = append(installed, "/usr/bin/"+p)
	}
	for _, r := range []install.Role{install.Central, install.Node} {
		installed = append(installed, "/usr/lib/systemd/system/"+r.UnitName())
	}
	for _, p := range installed {
		if !strings.Contains(string(contents), " ."+p+"\n") {
			t.Errorf("package lacks %s:\n%s", p, contents)
		}
	}

	// The real installation touches the host: refuse to clobber an Orbis
	// installed there by other means.
	if exec.Command("dpkg", "-s", Name).Run() == nil {
		t.Fatal("package orbis is installed on this machine: this test installs and removes it; remove it first (dpkg -r orbis)")
	}
	for _, p := range installed {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists outside the package: this test would replace it; remove it first", p)
		}
	}
	_, userErr := exec.Command("getent", "passwd", install.DefaultUser).Output()
	t.Cleanup(func() {
		if out, err := dpkg("--purge", Name); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
		if userErr != nil { // the package made central's user: the test removes it
			exec.Command("userdel", install.DefaultUser).Run()
			exec.Command("groupdel", install.DefaultUser).Run()
		}
	})
	start = time.Now()
	if out, err := dpkg("-i", deb); err != nil {
		t.Fatalf("dpkg -i: %v\n%s", err, out)
	}
	t.Logf("dpkg -i took %v", time.Since(start).Round(time.Millisecond))
	out, err := exec.Command("/usr/bin/orbis", "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "orbis "+v+" ") {
		t.Fatalf("installed orbis version: %v: %q, want version %s", err, out, v)
	}
	for _, p := range installed {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("after dpkg -i: %v", err)
		}
	}
	if err := exec.Command("getent", "passwd", install.DefaultUser).Run(); err != nil {
		t.Errorf("postinst did not make central's user %s: %v", install.DefaultUser, err)
	}
	for _, r := range []install.Role{install.Central, install.Node} {
		if _, err := os.Lstat(filepath.Join("/etc/systemd/system/multi-user.target.wants", r.UnitName())); err == nil {
			t.Errorf("the package enabled %s", r.UnitName())
		}
	}
	start = time.Now()
	if out, err := dpkg("-r", Name); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	for _, p := range installed {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left after dpkg -r", p)
		}
	}
	t.Logf("dpkg -r took %v", time.Since(start).Round(time.Millisecond))
}

// dpkg runs dpkg, waiting while another dpkg or apt holds its lock.
func dpkg(args ...string) ([]byte, error) {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := exec.Command("dpkg", args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "lock") || time.Now().After(deadline) {
			return out, err
		}
		time.Sleep(2 * time.Second)
	}
}

// TestBuildRefuses: a missing program or a version dpkg would not take
// fails with a clear error and writes no package.
func TestBuildRefuses(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.deb")
	err := Build(Options{BinDir: t.TempDir(), Doc: "../../../docs/deploy.md", Version: "1.0", Arch: "amd64", Out: out})
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("no programs: %v", err)
	}
	err = Build(Options{BinDir: t.TempDir(), Version: "v1.0", Arch: "amd64", Out: out})
	if err == nil || !strings.Contains(err.Error(), "digit") {
		t.Errorf("version v1.0: %v", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed build left %s", out)
	}
}
