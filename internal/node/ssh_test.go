package node

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStartSSH checks the gateway's wiring: it serves SSH on the address
// given, keeps its host key in the state directory, refuses an address in
// use with a clear error, and is off for an empty address.
func TestStartSSH(t *testing.T) {
	state := t.TempDir()
	n := &Node{cfg: Config{StateDir: state, Log: testLog()}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := n.startSSH(ctx, busy.Addr().String()); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("address in use: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	stop, err := n.startSSH(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if !strings.HasPrefix(line, "SSH-2.0-orbis") {
		t.Errorf("banner %q", line)
	}
	stop()
	st, err := os.Stat(filepath.Join(state, "ssh", "ssh_host_ed25519_key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("host key: %v", err)
	}

	stop, err = n.startSSH(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	stop()
}
