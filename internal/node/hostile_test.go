package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/rootfs"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/testutil"
)

const sshNodeEntry = "orbis-test-ssh-node"

func init() { registerSSHNode(sshNodeEntry, disk.Options{}) }

// registerSSHNode registers entry, a node agent with its SSH gateway on,
// whose slivers' disk d tunes.
func registerSSHNode(entry string, d disk.Options) {
	reexec.Register(entry, func() {
		err := Run(context.Background(), Config{StateDir: os.Args[1], NMSocket: os.Args[2], CgroupParent: os.Args[3],
			SSHAddr: os.Args[4], Uplink: "none", SniffGroup: uint16(1000 + os.Getpid()%30000), Disk: d, Log: testLog()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "node:", err)
			os.Exit(1)
		}
		os.Exit(0)
	})
}

// TestHostileSliverFiles is the attack on a whole node: a sliver's root
// adds a key of its own to its authorized_keys and plants a symlink at
// /root/.ssh; then central, as its resource manager does, moves the slice
// to smaller resources with one key revoked, and disables it. Each step
// must take effect through the node manager and the node's SSH gateway:
// the planted key never logs in, the revoked key stops logging in, the
// cgroup holds the new memory limit, the status names the planted
// symlink, and the disabled sliver stops and takes no login.
func TestHostileSliverFiles(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	tn, exec, addr := startSSHNode(t, t.TempDir(), "hostile")

	const name, mib = "pl_hostile", 1 << 20
	revoked, kept, planted := newSigner(t), newSigner(t), newSigner(t)
	rc := acquireMemory(t, tn, 256*mib)
	if err := tn.client.Bind(ctx, name, rc, api.BindAttrs{Keys: authorized(revoked, kept), InitScript: "exec sleep 1000"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []ssh.Signer{revoked, kept} {
		if err := sshLogin(addr, name, k); err != nil {
			t.Fatalf("a slice user's key does not log in before the attack: %v", err)
		}
	}

	// The sliver's root adds a key, then plants the symlink.
	runIn(t, exec, name, "echo '"+authorized(planted)[0]+"' >> /root/.ssh/authorized_keys")
	if err := sshLogin(addr, name, planted); err == nil {
		t.Error("a key the sliver wrote into its own authorized_keys logs in through the gateway")
	}
	runIn(t, exec, name, "rm -rf /root/.ssh && ln -s /nonexistent /root/.ssh")

	// Central moves the slice to less memory, with one key revoked.
	rc2 := acquireMemory(t, tn, 128*mib)
	if err := tn.client.Bind(ctx, name, rc2, api.BindAttrs{Keys: authorized(kept), InitScript: "exec sleep 1000"}); err != nil {
		t.Fatalf("bind after the symlink was planted: %v", err)
	}
	if err := tn.client.Release(ctx, rc); err != nil {
		t.Fatal(err)
	}
	if err := sshLogin(addr, name, revoked); err == nil {
		t.Error("a revoked key still logs in")
	}
	if err := sshLogin(addr, name, kept); err != nil {
		t.Errorf("the key kept no longer logs in: %v", err)
	}
	if lim := nodeMemoryLimit(t, tn.cgroups, name); lim != 128*mib {
		t.Errorf("memory limit %d after the move, want %d", lim, 128*mib)
	}
	info := sliverInfo(t, tn, name)
	if !strings.Contains(info.Reason, "/root/.ssh was a symlink") {
		t.Errorf("status %+v: want a reason naming the planted symlink", info)
	}

	// Central disables it: a new symlink cannot keep it running.
	runIn(t, exec, name, "rm -rf /root/.ssh && ln -s /nonexistent /root/.ssh")
	if err := tn.client.Stop(ctx, name); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if info := sliverInfo(t, tn, name); info.State != "stopped" || info.Procs != 0 {
		t.Errorf("after stop: %+v", info)
	}
	if err := sshLogin(addr, name, kept); err == nil {
		t.Error("a stopped sliver takes logins")
	}
}

// startSSHNode builds the busybox image in state and spawns a node agent
// there with its SSH gateway on; it returns the agent, the node opened
// beside it for exec, and the gateway's address.
func startSSHNode(t *testing.T, state, name string) (*testNode, *Node, string) {
	t.Helper()
	return startNodeEntry(t, sshNodeEntry, state, name)
}

// startNodeEntry is startSSHNode for the agent of entry, which takes the
// gateway's address as its fourth argument.
func startNodeEntry(t *testing.T, entry, state, name string) (*testNode, *Node, string) {
	t.Helper()
	if _, err := rootfs.NewStore(state, rootfs.Options{}, testutil.Logger(t)).Build(testutil.Context(t), "busybox", "busybox", nil); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	tn := &testNode{t: t, state: state, sock: filepath.Join(state, "nm.sock"), cgroups: fmt.Sprintf("orbistest-%s-%d", name, os.Getpid())}
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		tn.sshPort = ap.Port()
	}
	n := tn.spawn(entry, addr)
	t.Cleanup(func() { n.Close() })
	return tn, n, addr
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

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorized are the authorized_keys lines of keys.
func authorized(keys ...ssh.Signer) []string {
	var out []string
	for _, k := range keys {
		out = append(out, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))))
	}
	return out
}

// sshLogin logs in to slice through the gateway at addr with key.
func sshLogin(addr, slice string, key ssh.Signer) error {
	c, err := sshDial(addr, slice, key)
	if err != nil {
		return err
	}
	return c.Close()
}

// sshDial connects to slice through the gateway at addr with key.
func sshDial(addr, slice string, key ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            slice,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

func acquireMemory(t *testing.T, tn *testNode, memory int64) api.Rcap {
	t.Helper()
	rc, err := tn.client.Acquire(context.Background(), api.Rspec{MemoryMax: memory, Privileges: api.Privileges{CreateSliver: true}})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// runIn runs script as the sliver's root.
func runIn(t *testing.T, n *Node, slice, script string) {
	t.Helper()
	runInOut(t, n, slice, script, &strings.Builder{})
}

// runInOut runs script as the sliver's root, its output to out.
func runInOut(t *testing.T, n *Node, slice, script string, out *strings.Builder) {
	t.Helper()
	p, err := n.Slivers.Exec(testutil.Context(t), slice, sandbox.Cmd{Args: []string{"/bin/sh", "-c", script}, Stdout: out, Stderr: out})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(); err != nil || code != 0 {
		t.Fatalf("%q in %s: %d %v: %s", script, slice, code, err, out.String())
	}
}

func sliverInfo(t *testing.T, tn *testNode, name string) api.SliverInfo {
	t.Helper()
	l, err := tn.client.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Slivers {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no sliver %s: %+v", name, l)
	return api.SliverInfo{}
}

// nodeMemoryLimit reads the memory limit of a best-effort sliver's cgroup
// under parent: cgroup v1's memory hierarchy, or else cgroup v2.
func nodeMemoryLimit(t *testing.T, parent, name string) int64 {
	t.Helper()
	p := filepath.Join("/sys/fs/cgroup/memory", parent, "fair", name, "memory.limit_in_bytes")
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		p = filepath.Join("/sys/fs/cgroup", parent, "fair", name, "memory.max")
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %q", p, b)
	}
	return v
}
