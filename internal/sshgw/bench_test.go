//go:build linux

package sshgw

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/sandbox"
)

// BenchmarkLogin times `ssh slice@node true` with OpenSSH's client: a full
// handshake, a login and a command, into a sliver that is running. For
// comparison, "sshd" times the same client into OpenSSH's sshd and a local
// account on this machine (one with /bin/sh and no dot files, made for the
// benchmark, since root's .bashrc may be slow), if sshd is installed: with
// the client's
// default key exchange (sntrup761x25519 for OpenSSH 9.2, which x/crypto
// lacks) and with curve25519-sha256, the one the gateway negotiates.
// "orbis-xcrypto" logs in with x/crypto's client, in process, to leave the
// client's own start-up out. All report the median as ms/login.
func BenchmarkLogin(b *testing.B) {
	// The parent runs once; its sub-benchmarks run several times each.
	key, priv := newKeyPair(b)
	n := newRealNode(b)
	n.create("pl_bench", key)
	keepRunning(b, n, "pl_bench")
	b.Run("orbis", func(b *testing.B) {
		o := newOpenSSH(b, n.gw.addr, key, priv)
		timeLogins(b, func() *exec.Cmd { return o.ssh("pl_bench", "true") })
	})
	b.Run("orbis-xcrypto", func(b *testing.B) {
		gw := n.gw
		timeEach(b, func() {
			c := gw.mustDial(b, "pl_bench", key)
			s, err := c.NewSession()
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Run("true"); err != nil {
				b.Fatal(err)
			}
			c.Close()
		})
	})
	for _, kex := range []string{"default", "curve25519-sha256"} {
		b.Run("sshd-"+kex, func(b *testing.B) {
			requireTool(b, "/usr/sbin/sshd", "openssh-server")
			user := benchUser(b) // removed after sshd has stopped
			addr := startSSHD(b, authorizedLine(key))
			o := newOpenSSH(b, addr, key, priv)
			if kex != "default" {
				o.extra = []string{"-o", "KexAlgorithms=" + kex}
			}
			timeLogins(b, func() *exec.Cmd { return o.ssh(user, "true") })
		})
	}
}

// keepRunning starts a long sleep in the sliver, so logins find its init
// running instead of starting one.
func keepRunning(b *testing.B, n *realNode, name string) {
	p, err := n.m.Exec(n.ctx, name, sandbox.Cmd{Args: []string{"sleep", "100000"}})
	if err != nil {
		b.Fatal(err)
	}
	go p.Wait()
}

// timeLogins runs b.N logins and reports their median.
func timeLogins(b *testing.B, login func() *exec.Cmd) {
	timeEach(b, func() {
		if _, errOut, code := result(b, login()); code != 0 {
			b.Fatalf("login: status %d: %s", code, errOut)
		}
	})
}

// timeEach runs fn b.N times, after one warm-up run, and reports the
// median time as ms/login.
func timeEach(b *testing.B, fn func()) {
	fn()
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		fn()
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms/login")
	b.ReportMetric(0, "ns/op")
}

// startSSHD runs OpenSSH's sshd on a free loopback port, with its own
// configuration and host key in a temporary directory, letting any local
// account in with the key of authorized, and returns its address.
func startSSHD(b *testing.B, authorized string) string {
	// sshd reads authorized_keys as the user: the directory must be
	// readable by all, which b.TempDir's parent is not.
	dir, err := os.MkdirTemp("", "orbistest-sshd-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", dir+"/host_key").CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	os.WriteFile(dir+"/authorized_keys", []byte(authorized+"\n"), 0o644)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf(`Port %s
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
`, port, dir, dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600)
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "/usr/sbin/sshd", "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); cmd.Wait() })
	waitUntil(b, "sshd", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// benchUser makes a throwaway local account with /bin/sh as its shell and
// no home directory, not locked (password "*": no password login, and
// sshd without PAM refuses locked accounts even with a key), removed when
// the benchmark ends.
func benchUser(b *testing.B) string {
	const user = "orbistest-sshbench"
	exec.Command("userdel", user).Run() // a leftover of an interrupted run
	if out, err := exec.Command("useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", "-p", "*", user).CombinedOutput(); err != nil {
		b.Fatalf("useradd: %v: %s", err, out)
	}
	b.Cleanup(func() {
		if out, err := exec.Command("userdel", user).CombinedOutput(); err != nil {
			b.Errorf("userdel: %v: %s", err, out)
		}
	})
	return user
}
