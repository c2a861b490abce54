package node

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/admin"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

const dialEntry = "orbistest-node-dial"

func init() {
	// Dials each Unix socket named in its arguments; prints "ok" or the
	// error, a line each.
	reexec.Register(dialEntry, func() {
		for _, p := range os.Args[1:] {
			c, err := net.Dial("unix", p)
			if err != nil {
				fmt.Println(err)
				continue
			}
			c.Close()
			fmt.Println("ok")
		}
		os.Exit(0)
	})
}

// TestStateDirPrivate: a node whose state directory anyone could search
// makes it root's alone, and says so; then a host user (uid 65534) cannot
// connect to the sockets in it that anyone may open (mode 0666, meant for
// slivers): the admin service's and the node manager's for slivers. Root
// still can.
func TestStateDirPrivate(t *testing.T) {
	testutil.RequireRoot(t)
	ctx := testutil.Context(t)
	parent, err := os.MkdirTemp("", "orbistest-state-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	state := filepath.Join(parent, "state")
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	var logged testutil.Buffer
	cgroups := fmt.Sprintf("orbistest-statedir-%d", os.Getpid())
	n, err := Open(ctx, Config{StateDir: state, CgroupParent: cgroups, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(); testutil.RemoveNodeCgroups(t, "/sys/fs/cgroup", cgroups) })
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory: %v, %v; want 0700", fi.Mode(), err)
	}
	if !strings.Contains(logged.String(), "state directory made private") || !strings.Contains(logged.String(), "was=-rwxr-xr-x") {
		t.Errorf("no log line says the state directory was made private:\n%s", logged.String())
	}

	stopAdmin, err := n.startAdmin(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopAdmin)
	rt, _ := nodemgr.NewFakeRuntime("")
	nm, err := nodemgr.Open(ctx, nodemgr.Options{StateDir: filepath.Join(state, "nm"), Runtime: rt,
		Node: nodemgr.Node{MemoryBytes: 1 << 30, DiskBytes: 1 << 30}, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nm.Close() })
	stopNM, err := serveSliverNM(ctx, n.cfg, nm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stopNM)

	socks := []string{filepath.Join(adminShareDir(state), admin.SocketName),
		filepath.Join(nmShareDir(state), filepath.Base(api.NMSliverSocket))}
	for _, p := range socks {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o666 {
			t.Fatalf("%s: %v, %v; want a socket of mode 0666", p, fi, err)
		}
	}
	dial := func(cred *syscall.Credential) []string {
		cmd := reexec.Command(dialEntry, socks...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("dial as %+v: %v", cred, err)
		}
		return strings.Split(strings.TrimSpace(string(out)), "\n")
	}
	for i, res := range dial(&syscall.Credential{Uid: 65534, Gid: 65534}) {
		if !strings.Contains(res, "permission denied") {
			t.Errorf("host uid 65534 dialing %s: %s; want permission denied", socks[i], res)
		}
	}
	for i, res := range dial(nil) {
		if res != "ok" {
			t.Errorf("root dialing %s: %s", socks[i], res)
		}
	}
}
