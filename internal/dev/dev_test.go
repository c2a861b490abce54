package dev_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestTour runs `orbis dev` and follows the README's tour with the real
// binaries a person uses (orbis, ssh-keygen, ssh): log in, add a key,
// create a slice, add the user and the node, and ssh into the sliver.
// Then Ctrl-C must leave nothing in the kernel.
func TestTour(t *testing.T) {
	testutil.RequireRoot(t)
	bin := buildOrbis(t)
	data := t.TempDir()
	addr, sshAddr, sensorAddr, auditAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cgroups := fmt.Sprintf("orbistest-dev-%d", os.Getpid())
	dev := exec.Command(bin, "dev", "--data", data, "--addr", addr, "--ssh-addr", sshAddr,
		"--sensor-addr", sensorAddr, "--audit-addr", auditAddr, "--nm-socket", filepath.Join(data, "nm.sock"), "--hostname", "devtest.orbis", "--cgroup-parent", cgroups)
	out, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	dev.Stderr = os.Stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if dev.ProcessState == nil {
			dev.Process.Signal(syscall.SIGINT)
			dev.Wait()
		}
	})
	waitLine(t, out, "Orbis dev is running")

	var adm central.Admin
	b, err := os.ReadFile(filepath.Join(data, "admin.json"))
	if err != nil || json.Unmarshal(b, &adm) != nil {
		t.Fatalf("admin.json: %v", err)
	}
	if st, _ := os.Stat(filepath.Join(data, "admin.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("admin.json mode %v, want 0600", st.Mode().Perm())
	}
	cli := func(stdin string, args ...string) (string, error) {
		c := exec.Command(bin, args...)
		c.Env = append(os.Environ(), "ORBIS_CONFIG="+filepath.Join(data, "cli.json"))
		c.Stdin = strings.NewReader(stdin)
		o, err := c.CombinedOutput()
		return string(o), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		o, err := cli(stdin, args...)
		if err != nil {
			t.Fatalf("orbis %s: %v\n%s", strings.Join(args, " "), err, o)
		}
		return o
	}
	key := filepath.Join(data, "id_ed25519")
	if o, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, o)
	}
	must(adm.Password+"\n", "login", "--central", "http://"+addr, "--user", adm.Email, "--password-stdin")
	must("", "key", "add", adm.Email, key+".pub")
	must("", "slice", "create", "dev_hello", "--description", "my first slice", "--url", "http://example.org")
	must("", "slice", "add-user", "dev_hello", adm.Email)
	if o := must("", "slice", "add-nodes", "dev_hello", "devtest.orbis"); !strings.Contains(o, "running") {
		t.Errorf("add-nodes said: %s", o)
	}
	_, port, _ := net.SplitHostPort(sshAddr)
	ssh := exec.Command("ssh", "-p", port, "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "dev_hello@127.0.0.1", "hostname; id -u; test -S /run/orbis/rawsock.sock && echo rawsock; wget -q -O /dev/null http://"+sensorAddr+"/load")
	if o, err := ssh.CombinedOutput(); err != nil || string(o) != "dev_hello\n0\nrawsock\n" {
		t.Errorf("ssh into the sliver: %v: %q", err, o)
	}

	// The node's sensors know the slice (they sample every 5 s).
	var body []byte
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(string(body), "\ndev_hello,") && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		resp, err := http.Get("http://" + sensorAddr + "/slices")
		if err != nil {
			t.Fatalf("sensor: %v", err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if !strings.HasPrefix(string(body), "slice,cpu_pct_1m") || !strings.Contains(string(body), "\ndev_hello,") {
		t.Errorf("/slices:\n%s", body)
	}

	// The traffic auditor saw the sliver's request to the sensors.
	var page []byte
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(string(page), "dev_hello") && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Get("http://" + auditAddr + "/")
		if err != nil {
			t.Fatalf("auditor page: %v", err)
		}
		page, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if !strings.Contains(string(page), "dev_hello") {
		t.Errorf("the auditor's page does not show the sliver's traffic:\n%.2000s", page)
	}
	// Central serves its traffic archive's page (closed minutes reach it
	// from the node a minute or so later).
	if resp, err := http.Get("http://" + addr + "/audit/?addr=127.0.0.1"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("central's archive page: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	// Bad input ends with a clear message and a non-zero exit.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"slice", "add-nodes", "dev_nosuch", "devtest.orbis"}, "dev_nosuch"},
		{[]string{"key", "add", adm.Email, "/etc/hostname"}, "key"},
		{[]string{"dev", "--data", t.TempDir(), "--addr", addr, "--ssh-addr", freeAddr(t), "--sensor-addr", freeAddr(t), "--audit-addr", freeAddr(t)}, "address already in use"},
	} {
		o, err := cli("", c.args...)
		if err == nil || !strings.Contains(o, c.want) {
			t.Errorf("orbis %s: err %v, output %q; want a failure mentioning %q", strings.Join(c.args, " "), err, o, c.want)
		}
	}

	// Ctrl-C stops everything and leaves no kernel object behind.
	dev.Process.Signal(syscall.SIGINT)
	if err := dev.Wait(); err != nil {
		t.Errorf("orbis dev after Ctrl-C: %v", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), data) {
		t.Errorf("mounts left under %s", data)
	}
	if left, _ := filepath.Glob("/sys/fs/cgroup/*/" + cgroups); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	// The kernel frees an auto-clearing loop device from a work queue
	// once its last user is gone: give it a moment.
	var loops string
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		o, _ := exec.Command("losetup", "-a").Output()
		if loops = string(o); !strings.Contains(loops, data) || time.Now().After(end) {
			break
		}
	}
	if strings.Contains(loops, data) {
		// Another test's sliver created while this node's disk was
		// mounted holds a copy of the mount in its namespace until it
		// drops its old root. This run's own slivers cannot be the
		// holders: their cgroups are gone (checked above).
		if holders := mountHolders(data); len(holders) > 0 {
			t.Logf("the node's disk is still held by other processes' mount namespaces (not this run's): %v", holders)
		} else {
			t.Errorf("loop devices left: %s", loops)
		}
	}
}

func buildOrbis(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orbis")
	if o, err := exec.Command("go", "build", "-o", bin, "github.com/orbisproject/orbis/cmd/orbis").CombinedOutput(); err != nil {
		t.Fatalf("build orbis: %v\n%s", err, o)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitLine reads r until a line contains want, for up to a minute.
func waitLine(t *testing.T, r interface{ Read([]byte) (int, error) }, want string) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(r)
		ok := false
		for s.Scan() {
			if !ok && strings.Contains(s.Text(), want) {
				ok = true
				found <- true
			}
		}
		if !ok {
			found <- false
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("orbis dev ended before printing %q", want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("orbis dev did not print %q within a minute", want)
	}
}

// mountHolders lists the processes whose mount namespace has a mount of
// a path under dir, as "pid (command)".
func mountHolders(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), dir) {
			continue
		}
		pid := filepath.Base(filepath.Dir(p))
		comm, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		out = append(out, pid+" ("+strings.TrimSpace(string(comm))+")")
	}
	return out
}
