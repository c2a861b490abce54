//go:build linux

package sshgw

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/testutil"
)

// newKeyPair returns a client key as a signer and as its private key.
func newKeyPair(t testing.TB) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// TestOpenSSH logs into real slivers with Debian's OpenSSH client.
func TestOpenSSH(t *testing.T) {
	n := newRealNode(t)
	key, priv := newKeyPair(t)
	n.create("pl_ssh", key)
	o := newOpenSSH(t, n.gw.addr, key, priv)

	t.Run("exec", func(t *testing.T) {
		out, errOut, code := result(t, o.ssh("pl_ssh", "hostname; id -u"))
		if code != 0 || out != "pl_ssh\n0\n" {
			t.Errorf("hostname; id -u: %q, status %d, stderr %q", out, code, errOut)
		}
	})
	t.Run("exit status", func(t *testing.T) {
		if _, _, code := result(t, o.ssh("pl_ssh", "exit 7")); code != 7 {
			t.Errorf("exit 7: status %d", code)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		cmd := o.ssh("pl_ssh", "tr a-z A-Z; echo done")
		cmd.Stdin = strings.NewReader("hello sliver\n")
		if out, _, code := result(t, cmd); out != "HELLO SLIVER\ndone\n" || code != 0 {
			t.Errorf("stdin: %q, status %d", out, code)
		}
	})
	t.Run("pty", func(t *testing.T) { testPTY(t, o) })
	t.Run("refusals", func(t *testing.T) { testRefusals(t, n, o, key) })
	t.Run("sftp and scp", func(t *testing.T) { testSFTP(t, n, o, key) })
	t.Run("signals", func(t *testing.T) {
		c := n.gw.mustDial(t, "pl_ssh", key)
		for sig, want := range map[ssh.Signal]int{ssh.SIGKILL: 137, ssh.SIGINT: 130} {
			s, _ := c.NewSession()
			var out testutil.Buffer
			s.Stdout = &out
			if err := s.Start("echo started; sleep 100; echo survived"); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the command", func() bool { return strings.Contains(out.String(), "started") })
			s.Signal(sig)
			var ee *ssh.ExitError
			if err := s.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != want {
				t.Errorf("after %s: %v, want status %d", sig, err, want)
			}
		}
	})
	t.Run("disconnect kills the group", func(t *testing.T) {
		c := n.gw.mustDial(t, "pl_ssh", key)
		s, _ := c.NewSession()
		var out testutil.Buffer
		s.Stdout = &out
		if err := s.Start("trap '' HUP; sleep 4242 & echo started; wait"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the command", func() bool { return strings.Contains(out.String(), "started") })
		c.Close()
		waitUntil(t, "the group killed", func() bool {
			return !strings.Contains(n.run("pl_ssh", "ps -o args", nil), "sleep 4242")
		})
	})
}

// testPTY drives a login shell through OpenSSH on a terminal of our own:
// the shell is on a terminal, sees its size, and sees it change.
func testPTY(t *testing.T, o *openSSH) {
	master, slave, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	setWinsize(master, winsize{Rows: 30, Cols: 100})
	cmd := o.sshT([]string{"-tt"}, "pl_ssh")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	var out testutil.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	expect := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q on the terminal; got %q", what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	expect("root@pl_ssh:~# ") // the prompt that a login shell's /etc/profile sets
	fmt.Fprintf(master, "stty size; tty; ls -l $(tty)\r")
	expect("30 100")
	expect("\n/dev/pts/0") // the sliver's own devpts
	if strings.Contains(out.String(), "not a tty") {
		t.Errorf("tty: %q", out.String())
	}
	setWinsize(master, winsize{Rows: 40, Cols: 120})
	time.Sleep(200 * time.Millisecond) // ssh forwards the change on SIGWINCH
	fmt.Fprintf(master, "stty size\r")
	expect("40 120")
	fmt.Fprintf(master, "exit 3\r")
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Errorf("ssh -tt: %v, want status 3; terminal: %q", err, out.String())
	}
}

// testRefusals checks that a wrong key, an unknown slice and a stopped one
// are refused alike.
func testRefusals(t *testing.T, n *realNode, o *openSSH, key ssh.Signer) {
	n.create("pl_stopped", key)
	if err := n.m.Stop(n.ctx, "pl_stopped"); err != nil {
		t.Fatal(err)
	}
	wrong, wrongPriv := newKeyPair(t)
	ow := newOpenSSH(t, n.gw.addr, wrong, wrongPriv)
	cases := []struct {
		name string
		cmd  *exec.Cmd
	}{
		{"wrong key", ow.ssh("pl_ssh", "true")},
		{"unknown slice", o.ssh("pl_nosuch", "true")},
		{"stopped slice", o.ssh("pl_stopped", "true")},
	}
	var first string
	for _, c := range cases {
		_, errOut, code := result(t, c.cmd)
		msg := stripWarnings(errOut)
		if code != 255 || !strings.Contains(msg, strings.TrimSpace(Refusal)) || !strings.Contains(msg, "Permission denied") {
			t.Errorf("%s: status %d, stderr %q", c.name, code, errOut)
		}
		if first == "" {
			first = msg
		} else if msg != first {
			t.Errorf("%s: stderr %q differs from %q", c.name, msg, first)
		}
	}
}

// stripWarnings drops OpenSSH's known_hosts warning and names the host
// the same way in every message.
func stripWarnings(s string) string {
	var keep []string
	for l := range strings.Lines(s) {
		if !strings.HasPrefix(l, "Warning: Permanently added") {
			keep = append(keep, strings.NewReplacer("pl_ssh@", "X@", "pl_nosuch@", "X@", "pl_stopped@", "X@").Replace(l))
		}
	}
	return strings.Join(keep, "")
}

// testSFTP copies files in and out with sftp and scp (which speaks sftp),
// and checks that a sliver without sftp-server refuses with a clear word.
func testSFTP(t *testing.T, n *realNode, o *openSSH, key ssh.Signer) {
	requireTool(t, "sftp", "openssh-client")
	n.create("pl_sftp", key)
	n.installSFTPServer("pl_sftp")
	dir := t.TempDir()
	data := strings.Repeat("orbis sftp test data\n", 50000) // ~1 MB
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte(data), 0o644)

	batch := filepath.Join(dir, "batch")
	os.WriteFile(batch, []byte(fmt.Sprintf("put %s /root/viasftp\nget /root/viasftp %s/back-sftp\n", src, dir)), 0o644)
	if _, errOut, code := result(t, o.sftp(batch, "pl_sftp")); code != 0 {
		t.Fatalf("sftp: status %d: %s", code, errOut)
	}
	if _, errOut, code := result(t, o.scp(src, "pl_sftp@127.0.0.1:/root/viascp")); code != 0 {
		t.Fatalf("scp in: status %d: %s", code, errOut)
	}
	if _, errOut, code := result(t, o.scp("pl_sftp@127.0.0.1:/root/viascp", dir+"/back-scp")); code != 0 {
		t.Fatalf("scp out: status %d: %s", code, errOut)
	}
	for _, f := range []string{"back-sftp", "back-scp"} {
		if b, err := os.ReadFile(filepath.Join(dir, f)); err != nil || string(b) != data {
			t.Errorf("%s: %d bytes, %v", f, len(b), err)
		}
	}
	if got := n.run("pl_sftp", "cat /root/viasftp /root/viascp | wc -c", nil); strings.TrimSpace(got) != fmt.Sprint(2*len(data)) {
		t.Errorf("in the sliver: %s bytes", got)
	}

	// pl_ssh's busybox image has no sftp-server.
	_, errOut, code := result(t, o.sftp(batch, "pl_ssh"))
	if code == 0 || !strings.Contains(errOut, ErrNoSubsystem.Error()) {
		t.Errorf("sftp without sftp-server: status %d, stderr %q", code, errOut)
	}
}
