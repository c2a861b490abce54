package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/disk"
	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/sniff"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestStartupFailures fails each step of the node agent's start-up in
// turn and checks that Run returns an error, in one line, naming the
// cause (never a panic), and that the failed start left nothing in the
// kernel: no mount or loop device of its state directory, no nft table,
// cgroup or pinned BPF program of its own, no listening socket.
func TestStartupFailures(t *testing.T) {
	testutil.RequireRoot(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, cfg *Config)
		want  []string
		// theirs, when set, checks that what another node made is still
		// there, and removes it.
		theirs func(t *testing.T, cfg Config)
	}{
		{"cgroup parent in use", func(t *testing.T, cfg *Config) {
			unlock, err := lockParent(cfg.CgroupParent)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(unlock)
			if out, err := exec.Command("nft", "add", "table", "inet", cfg.CgroupParent).CombinedOutput(); err != nil {
				t.Fatalf("the other node's table: %v: %s", err, out)
			}
		}, []string{"another Orbis node", "--cgroup-parent"}, func(t *testing.T, cfg Config) {
			if exec.Command("nft", "list", "table", "inet", cfg.CgroupParent).Run() != nil {
				t.Error("the failed start removed the other node's nft table")
			}
			exec.Command("nft", "delete", "table", "inet", cfg.CgroupParent).Run()
		}},
		{"state directory is a file", func(t *testing.T, cfg *Config) {
			cfg.StateDir = filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(cfg.StateDir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"state directory", "not a directory"}, nil},
		{"disk image cannot be made", func(t *testing.T, cfg *Config) {
			cfg.Disk = disk.Options{Force: disk.KindBtrfs, ImageSize: 4096}
		}, []string{"open node disk", "mkfs.btrfs"}, nil},
		{"no cgroup hierarchy", func(t *testing.T, cfg *Config) {
			cfg.CgroupRoot = t.TempDir()
		}, []string{"no cgroup hierarchy mounted"}, nil},
		{"NFLOG group taken", func(t *testing.T, cfg *Config) {
			src, err := sniff.Open(sniff.Config{Group: cfg.SniffGroup})
			if err != nil {
				t.Fatalf("take NFLOG group %d: %v", cfg.SniffGroup, err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { src.Run(ctx, sniff.NewStream()); close(done) }()
			t.Cleanup(func() { cancel(); <-done })
		}, []string{"NFLOG group", "--sniff-group"}, nil},
		{"bad port scope", func(t *testing.T, cfg *Config) {
			cfg.PortScope = "galaxy"
		}, []string{`port scope "galaxy"`}, nil},
		{"SSH port taken", func(t *testing.T, cfg *Config) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			cfg.SSHAddr = l.Addr().String()
		}, []string{"ssh gateway", "address already in use"}, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			cfg := Config{StateDir: state, NMSocket: filepath.Join(state, "nm.sock"),
				CgroupParent: fmt.Sprintf("orbistest-start-%d-%d", os.Getpid(), i), Uplink: "none",
				SniffGroup: uint16(31000 + os.Getpid()%30000 + i), SensorAddr: freeAddr(t), Log: testutil.Logger(t)}
			c.setup(t, &cfg)
			t.Cleanup(func() { removeLeftovers(cfg) })
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := Run(ctx, cfg)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			msg := err.Error()
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			t.Logf("error: %s", msg)
			if c.theirs != nil {
				c.theirs(t, cfg)
			}
			// The kernel releases an autoclear loop device after the
			// last close of its unmounted filesystem, a moment after
			// umount returns: give it two seconds.
			left := leftovers(cfg)
			for deadline := time.Now().Add(2 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = leftovers(cfg) {
				time.Sleep(50 * time.Millisecond)
			}
			for _, l := range left {
				t.Errorf("left behind: %s", l)
			}
		})
	}
}

// leftovers lists what of the node of cfg is left in the kernel.
func leftovers(cfg Config) []string {
	var out []string
	state, _ := filepath.EvalSymlinks(cfg.StateDir)
	if state == "" {
		state = cfg.StateDir
	}
	if mi, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], state+"/") {
				out = append(out, "mount "+f[4])
			}
		}
	}
	loops, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, l := range loops {
		if b, _ := os.ReadFile(l); strings.HasPrefix(string(b), state+"/") {
			out = append(out, "loop device "+l)
		}
	}
	if exec.Command("nft", "list", "table", "inet", cfg.CgroupParent).Run() == nil {
		out = append(out, "nft table inet "+cfg.CgroupParent)
	}
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range append(hierarchies, "/sys/fs/cgroup") {
		if _, err := os.Stat(filepath.Join(h, cfg.CgroupParent)); err == nil {
			out = append(out, "cgroup "+filepath.Join(h, cfg.CgroupParent))
		}
	}
	if _, err := os.Stat(filepath.Join(portmgr.DefaultPinDir, cfg.CgroupParent)); err == nil {
		out = append(out, "BPF pins "+filepath.Join(portmgr.DefaultPinDir, cfg.CgroupParent))
	}
	if c, err := net.Dial("unix", cfg.NMSocket); err == nil {
		c.Close()
		out = append(out, "node manager socket "+cfg.NMSocket)
	}
	if l, err := net.Listen("tcp", cfg.SensorAddr); err != nil {
		out = append(out, "sensor server "+cfg.SensorAddr)
	} else {
		l.Close()
	}
	return out
}

// removeLeftovers removes what a failed start may have left, so that a
// failing test does not leave it for the next.
func removeLeftovers(cfg Config) {
	exec.Command("nft", "delete", "table", "inet", cfg.CgroupParent).Run()
	os.RemoveAll(filepath.Join(portmgr.DefaultPinDir, cfg.CgroupParent))
	exec.Command("umount", filepath.Join(cfg.StateDir, "disk")).Run()
	removeParentCgroups(Config{CgroupRoot: "/sys/fs/cgroup", CgroupParent: cfg.CgroupParent})
}
