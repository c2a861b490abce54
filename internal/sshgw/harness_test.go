//go:build linux

package sshgw

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sliver"
	"github.com/orbisproject/orbis/internal/sliver/slivertest"
	"github.com/orbisproject/orbis/internal/testutil"
)

func TestMain(m *testing.M) {
	if reexec.Init() {
		return
	}
	os.Exit(m.Run())
}

// realNode is a real sliver Manager on this machine (cgroups under a
// test-only parent, a btrfs disk image, a busybox image) and a gateway in
// front of it, all removed when the test ends.
type realNode struct {
	t   testing.TB
	m   *sliver.Manager
	ctx context.Context
	gw  *gateway
}

var uidNext uint32 = 3000000

// managerSlivers serves the gateway from a real sliver Manager, as the
// node agent's adapter does (the gateway itself does not know the sliver
// runtime).
type managerSlivers struct{ m *sliver.Manager }

func (s managerSlivers) AuthorizedKeys(name string) ([]string, error) {
	spec, err := s.m.Login(name)
	return spec.Keys, err
}

func (s managerSlivers) Exec(ctx context.Context, name string, cmd sandbox.Cmd) (Process, error) {
	p, err := s.m.Exec(ctx, name, cmd)
	if err != nil {
		return nil, err // not a nil *sliver.Process in a non-nil Process
	}
	return p, nil
}

func newRealNode(t testing.TB) *realNode {
	m := slivertest.NewManager(t, "sshgw")
	n := &realNode{t: t, m: m, ctx: testutil.Context(t)}
	// Registered after the Manager's cleanup, so it runs first.
	n.gw = startGateway(t, Config{Slivers: managerSlivers{m}, HostKeyPath: filepath.Join(t.TempDir(), "ssh", "host_key")})
	return n
}

// create makes and starts a sliver whose users hold keys.
func (n *realNode) create(name string, keys ...ssh.Signer) {
	n.t.Helper()
	uidNext += 65536
	s := sliver.Spec{Name: name, UIDBase: uidNext, UIDCount: 65536}
	for _, k := range keys {
		s.Keys = append(s.Keys, authorizedLine(k))
	}
	if err := n.m.Create(n.ctx, s); err != nil {
		n.t.Fatalf("create %s: %v", name, err)
	}
	if err := n.m.Start(n.ctx, name); err != nil {
		n.t.Fatalf("start %s: %v", name, err)
	}
}

// run runs a shell script as the sliver's root, with stdin, and returns
// its output; it fails the test on a non-zero status.
func (n *realNode) run(name, script string, stdin *os.File, args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := sandbox.Cmd{Args: append([]string{"/bin/sh", "-c", script, "sh"}, args...), Stdout: &out, Stderr: &out}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	p, err := n.m.Exec(ctx, name, cmd)
	if err != nil {
		n.t.Fatalf("exec in %s: %v", name, err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		n.t.Fatalf("%s: %q: status %d, %v: %s", name, script, code, err, out.String())
	}
	return out.String()
}

// installSFTPServer copies the host's OpenSSH sftp-server and the shared
// libraries it needs into the sliver's own writable layer, as a slice
// would install it.
func (n *realNode) installSFTPServer(name string) {
	n.t.Helper()
	const server = "/usr/lib/openssh/sftp-server"
	requireTool(n.t, server, "openssh-sftp-server")
	n.install(name, server, server)
}

// install copies the host's program src, and the shared libraries it
// needs, into the sliver's own writable layer, the program as dst.
func (n *realNode) install(name, src, dst string) {
	n.t.Helper()
	out, err := exec.Command("ldd", src).Output()
	if err != nil && !strings.Contains(string(out), "not a dynamic executable") {
		n.t.Fatalf("ldd %s: %v", src, err)
	}
	files := regexp.MustCompile(`(?m)(?:=> |^\s+)(/\S+)`).FindAllStringSubmatch(string(out), -1)
	copies := map[string]string{dst: src}
	for _, f := range files {
		copies[f[1]] = f[1]
	}
	for to, from := range copies {
		f, err := os.Open(from)
		if err != nil {
			n.t.Fatal(err)
		}
		n.run(name, `mkdir -p "$(dirname "$1")" && cat >"$1" && chmod 755 "$1"`, f, to)
		f.Close()
	}
}

// requireTool fails under CI, and skips elsewhere, when a program the test
// drives is missing.
func requireTool(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(path); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is missing: apt-get install -y %s", path, pkg)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// openSSH drives Debian's OpenSSH client with one throwaway key.
type openSSH struct {
	t       testing.TB
	port    string
	keyFile string
	extra   []string // more -o options
}

func newOpenSSH(t testing.TB, addr string, key ssh.Signer, priv any) *openSSH {
	t.Helper()
	requireTool(t, "ssh", "openssh-client")
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(addr, ":")
	return &openSSH{t: t, port: port, keyFile: keyFile}
}

func (o *openSSH) opts(portFlag string) []string {
	return append([]string{"-F", "/dev/null", portFlag, o.port, "-i", o.keyFile,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"}, o.extra...)
}

// ssh returns `ssh [flags] slice@127.0.0.1 args...`.
func (o *openSSH) ssh(slice string, args ...string) *exec.Cmd {
	a := append(o.opts("-p"), slice+"@127.0.0.1")
	return exec.Command("ssh", append(a, args...)...)
}

// sshT is ssh with extra ssh flags before the destination.
func (o *openSSH) sshT(flags []string, slice string, args ...string) *exec.Cmd {
	a := append(append(o.opts("-p"), flags...), slice+"@127.0.0.1")
	return exec.Command("ssh", append(a, args...)...)
}

func (o *openSSH) scp(args ...string) *exec.Cmd {
	return exec.Command("scp", append(o.opts("-P"), args...)...)
}

func (o *openSSH) sftp(batch, slice string) *exec.Cmd {
	return exec.Command("sftp", append(o.opts("-P"), "-b", batch, slice+"@127.0.0.1")...)
}

// result runs cmd and returns its stdout, stderr and exit status.
func result(t testing.TB, cmd *exec.Cmd) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return o.String(), e.String(), 0
}
