package sliver

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
)

// TestIsolation checks what a hostile sliver root must not be able to do
// to the node or to another sliver.
func TestIsolation(t *testing.T) {
	n := newNode(t)
	n.create("pl_alice", api.Rspec{}, "")
	bob := n.create("pl_bob", api.Rspec{}, "")
	n.mustRun("pl_bob", "echo secret > /root/bob.txt; chmod 600 /root/bob.txt")
	if _, err := n.m.Exec(n.ctx, "pl_bob", shCmd("exec sleep 1000")); err != nil {
		t.Fatal(err)
	}
	bobSleep := n.pidOf(t, "pl_bob", "sleep")
	marker := fmt.Sprintf("/etc/orbistest-marker-%d", os.Getpid())
	if err := os.WriteFile(marker, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(marker) })
	hostname, _ := os.Hostname()
	img, _ := n.m.opts.Images.Path("busybox")
	busybox, _ := os.ReadFile(img + "/bin/busybox")

	refused := []struct{ what, script string }{
		{"see another sliver's processes", "ps -o comm | grep -x sleep"},
		{"signal a host process", fmt.Sprintf("kill -0 %d", os.Getpid())},
		{"signal another sliver's process", fmt.Sprintf("kill -9 %d", bobSleep)},
		{"see the host's files", "cat " + marker},
		{"make a device node", "mknod /tmp/sda b 8 0"},
		{"mount a file system", "mkdir -p /mnt/p && mount -t proc proc /mnt/p"},
		{"mount sysfs", "mkdir -p /mnt/s && mount -t sysfs sysfs /mnt/s"},
		{"change the node's time", "date -s 2001-01-01 && [ $(date +%Y) = 2001 ]"},
		{"rename the node", "hostname orbistest-evil"},
		{"hold CAP_SYS_MODULE, CAP_SYS_ADMIN or CAP_NET_ADMIN", capCheck},
	}
	for _, c := range refused {
		t.Run(c.what, func(t *testing.T) {
			if out, code := n.run("pl_alice", c.script); code == 0 {
				t.Errorf("a sliver could %s: %q succeeded: %s", c.what, c.script, out)
			}
		})
	}

	// Writes to the image's files land in the sliver's own layer.
	n.mustRun("pl_alice", "echo overwritten > /bin/busybox.orbis; cat /bin/busybox.orbis >/dev/null; echo x >> /etc/passwd")
	if after, _ := os.ReadFile(img + "/bin/busybox"); !bytes.Equal(after, busybox) {
		t.Error("the reference image's busybox changed")
	}
	if _, err := os.Stat(img + "/bin/busybox.orbis"); err == nil {
		t.Error("a sliver wrote into the reference image")
	}
	if got, _ := os.Hostname(); got != hostname {
		t.Errorf("node hostname changed to %q", got)
	}
	if err := syscall.Kill(bobSleep, 0); err != nil {
		t.Errorf("bob's process died: %v", err)
	}

	// Even a process that escaped alice's mount namespace holds only
	// alice's host UID, which cannot read bob's files.
	bobFile := n.upper(t, "pl_bob") + "/root/bob.txt"
	if st, err := os.Stat(bobFile); err != nil || st.Sys().(*syscall.Stat_t).Uid != bob.UIDBase {
		t.Fatalf("bob's file on the host: %v (want owner %d)", err, bob.UIDBase)
	}
	alice, _ := n.m.readSpec("pl_alice")
	cat := exec.Command("cat", bobFile)
	cat.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: alice.UIDBase, Gid: alice.UIDBase}}
	if out, err := cat.CombinedOutput(); err == nil {
		t.Errorf("alice's host UID read bob's file: %s", out)
	}
}

// capCheck fails when the shell holds a capability that could hurt the
// node: CAP_SYS_MODULE (16), CAP_SYS_ADMIN (21), CAP_NET_ADMIN (12).
const capCheck = `eff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
bnd=$(awk '/^CapBnd/ {print $2}' /proc/self/status)
for v in $eff $bnd; do
  x=$((0x$v))
  if [ $(( (x >> 16) & 1 )) = 1 ] || [ $(( (x >> 21) & 1 )) = 1 ] || [ $(( (x >> 12) & 1 )) = 1 ]; then exit 0; fi
done
exit 1`

// pidOf finds the host pid of a process named comm in a sliver.
func (n *node) pidOf(t *testing.T, slice, comm string) int {
	t.Helper()
	spec, err := n.m.readSpec(slice)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	waitFor(t, comm+" in "+slice, 5*time.Second, func() bool {
		procs, _ := n.m.cgroupsOf(spec).Procs(slice)
		for _, p := range procs {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/comm")
			if strings.TrimSpace(string(b)) == comm {
				pid = p
				return true
			}
		}
		return false
	})
	return pid
}

// upper is the host path of the sliver's writable layer.
func (n *node) upper(t *testing.T, slice string) string {
	t.Helper()
	_, cfg, err := n.m.config(slice)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Upper
}
