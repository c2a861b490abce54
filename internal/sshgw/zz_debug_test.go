//go:build linux

package sshgw

import (
	"os/exec"
	"testing"
)

func TestZZDebug(t *testing.T) {
	n := newRealNode(t)
	key, priv := newKeyPair(t)
	n.create("pl_dbg", key)
	keepRunning2(t, n)
	o := newOpenSSH(t, n.gw.addr, key, priv)
	args := append([]string{"-vvv"}, o.ssh("pl_dbg", "true").Args[1:]...)
	script := `ssh "$@" 2>&1 | while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done`
	out, _ := exec.Command("bash", append([]string{"-c", script, "x"}, args...)...).CombinedOutput()
	t.Log(string(out))
}

func keepRunning2(t *testing.T, n *realNode) {
	n.run("pl_dbg", "true", nil)
}
