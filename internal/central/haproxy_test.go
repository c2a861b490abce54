package central_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// haproxy is Debian's haproxy in TCP mode in front of centrals, passing
// their TLS through.
type haproxy struct {
	url  string
	sock string // its stats socket
}

// startHAProxy starts haproxy on a loopback listener of the test's (passed
// as fd 3, so no port is guessed), balancing connections over backends,
// with health checks every 200 ms and retries on the other backend.
func startHAProxy(t testing.TB, backends ...*centralProc) *haproxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy not installed: apt-get install haproxy (make test installs it)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	dir := t.TempDir()
	h := &haproxy{url: "https://" + l.Addr().String(), sock: filepath.Join(dir, "stats.sock")}
	var servers strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&servers, "  server %s %s check inter 200ms fall 1 rise 2\n", b.name, b.hostPort())
	}
	cfg := fmt.Sprintf(`global
  maxconn 4096
  stats socket %s level admin
defaults
  mode tcp
  timeout connect 2s
  timeout client 90s
  timeout server 90s
  retries 3
  option redispatch
listen central
  bind fd@3
  balance roundrobin
%s`, h.sock, servers.String())
	cfgFile := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, "haproxy.log")
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "-db", "-f", cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{lf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("haproxy's log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := h.sessions(); err == nil {
			return h
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("haproxy did not start:\n%s", b)
		}
	}
}

// servers returns haproxy's statistics row of each backend server,
// from `show stat` on its socket, by server name.
func (h *haproxy) servers() (map[string][]string, error) {
	c, err := net.Dial("unix", h.sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write([]byte("show stat\n")); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) > 17 && f[0] == "central" && f[1] != "FRONTEND" && f[1] != "BACKEND" {
			out[f[1]] = f
		}
	}
	return out, sc.Err()
}

// sessions returns how many connections haproxy has passed to each
// backend so far (field stot).
func (h *haproxy) sessions() (map[string]int, error) {
	rows, err := h.servers()
	out := map[string]int{}
	for name, f := range rows {
		out[name], _ = strconv.Atoi(f[7])
	}
	return out, err
}

// up reports whether haproxy's health check finds server up (field
// status).
func (h *haproxy) up(server string) bool {
	rows, err := h.servers()
	return err == nil && len(rows[server]) > 17 && rows[server][17] == "UP"
}
