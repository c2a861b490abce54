package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// systemdAnalyze finds systemd-analyze: under CI a missing one fails the
// test (make test-deps installs it), elsewhere it skips it.
func systemdAnalyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatal("systemd-analyze not found: install Debian's systemd (make test-deps)")
	}
	t.Skip("systemd-analyze not found (apt-get install -y systemd); CI runs this test")
	return ""
}

// TestUnitsVerify checks every unit install writes with systemd's own
// parser: `systemd-analyze verify` must accept it without a word (it exits
// 0 on unknown keys and bad values, so any output fails the test). It
// logs the exposure score `systemd-analyze security` gives each unit.
func TestUnitsVerify(t *testing.T) {
	analyze := systemdAnalyze(t)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range map[string]string{
		"central":         Unit(Central, UnitOptions{Binary: bin, DataDir: DefaultCentralData, User: DefaultUser}),
		"central-lowport": Unit(Central, UnitOptions{Binary: bin, DataDir: DefaultCentralData, User: DefaultUser, LowPort: true}),
		"node":            Unit(Node, UnitOptions{Binary: bin, DataDir: DefaultNodeState}),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "orbis-"+name+".service")
			if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Fatalf("systemd-analyze verify: %v\n%s\n--- unit:\n%s", err, out, u)
			}
			out, _ = exec.Command(analyze, "security", "--offline=yes", "--no-pager", path).CombinedOutput()
			if i := strings.Index(string(out), "Overall exposure level"); i >= 0 {
				t.Log(strings.TrimSpace(string(out[i:])))
			}
		})
	}
}

// TestUnitVerifyCatches makes sure the check above can fail: a unit with
// a misspelt key does not pass.
func TestUnitVerifyCatches(t *testing.T) {
	analyze := systemdAnalyze(t)
	bin, _ := os.Executable()
	u := strings.Replace(Unit(Node, UnitOptions{Binary: bin, DataDir: DefaultNodeState}), "KillMode=", "KilMode=", 1)
	path := filepath.Join(t.TempDir(), "orbis-node.service")
	if err := os.WriteFile(path, []byte(u), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err == nil && len(out) == 0 {
		t.Fatal("systemd-analyze verify accepted a misspelt key without a word")
	}
}

func TestUnitFacts(t *testing.T) {
	c := Unit(Central, UnitOptions{Binary: "/usr/bin/orbis", DataDir: "/srv/plc", User: "plc"})
	for _, want := range []string{"User=plc\n", "ExecStart=/usr/bin/orbis central --data /srv/plc $ORBIS_ARGS\n",
		"ReadWritePaths=/srv/plc\n", "CapabilityBoundingSet=\n", "EnvironmentFile=-/etc/orbis/central.env\n"} {
		if !strings.Contains(c, want) {
			t.Errorf("central's unit lacks %q", want)
		}
	}
	if strings.Contains(c, "AmbientCapabilities") {
		t.Error("central on port 8780 gets a capability")
	}
	low := Unit(Central, UnitOptions{Binary: "/usr/bin/orbis", DataDir: "/srv/plc", User: "plc", LowPort: true})
	if !strings.Contains(low, "AmbientCapabilities=CAP_NET_BIND_SERVICE\n") {
		t.Error("central on port 443 lacks CAP_NET_BIND_SERVICE")
	}
	state := Unit(Central, UnitOptions{Binary: "/usr/bin/orbis", DataDir: DefaultCentralData, User: "orbis"})
	if !strings.Contains(state, "StateDirectory=orbis-central\n") || strings.Contains(state, "ReadWritePaths") {
		t.Error("central under /var/lib: want systemd to make its StateDirectory")
	}
	n := Unit(Node, UnitOptions{Binary: "/usr/bin/orbis", DataDir: "/var/lib/orbis"})
	for _, want := range []string{"KillMode=process\n", "ExecReload=/bin/kill -HUP $MAINPID\n", "ExecStart=/usr/bin/orbis node --state /var/lib/orbis $ORBIS_ARGS\n"} {
		if !strings.Contains(n, want) {
			t.Errorf("node's unit lacks %q", want)
		}
	}
	for _, bad := range []string{"User=", "ProtectSystem", "PrivateTmp", "SystemCallFilter", "NoNewPrivileges"} {
		if strings.Contains(n, bad) {
			t.Errorf("node's unit has %s: the slivers would inherit it or lose their mounts", bad)
		}
	}
}

func TestCheckArgs(t *testing.T) {
	for _, tc := range []struct {
		role Role
		args []string
		ok   bool
	}{
		{Central, []string{"--addr", ":8780", "--tls-san", "plc.example.org,192.0.2.1"}, true},
		{Node, []string{"--central", "https://plc.example.org:8780", "--token", "3f9c.2bc1"}, true},
		{Central, []string{"--admin-email", "a b@example.org"}, false},
		{Central, []string{"--db", "postgres://u:$HOME@h/db"}, false},
		{Central, []string{`--tls-san="x"`}, false},
		{Central, []string{`a\b`}, false},
		{Central, []string{"100%"}, false},
		{Central, []string{""}, false},
		{Central, []string{"--x", "a\nORBIS_ARGS=--evil"}, false},
		{Central, []string{"--data", "/tmp/x"}, false},
		{Central, []string{"-data=/tmp/x"}, false},
		{Node, []string{"--state", "/tmp/x"}, false},
		{Node, []string{"--data", "/tmp/x"}, true}, // not a node flag: `orbis node` refuses it
	} {
		err := CheckArgs(tc.role, tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("CheckArgs(%s, %q) = %v, want ok=%v", tc.role, tc.args, err, tc.ok)
		}
	}
}

func TestLowPort(t *testing.T) {
	for args, want := range map[string]bool{
		"--addr :443":                   true,
		"--addr=:443":                   true,
		"-addr 192.0.2.1:80":            true,
		"--addr :8780":                  false,
		"--addr :443 --addr :8780":      false,
		"--tls-san x":                   false,
		"":                              false,
		"--addr [2001:db8::1]:443":      true,
		"--addr nonsense --debug":       false,
		"--addr :0":                     false,
		"--addr :443 --tls-san :80x":    true,
		"--tls-san --addr --addr :1023": true,
	} {
		if got := lowPort(strings.Fields(args)); got != want {
			t.Errorf("lowPort(%q) = %v, want %v", args, got, want)
		}
	}
}
