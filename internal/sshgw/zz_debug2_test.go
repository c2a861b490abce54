//go:build linux

package sshgw

import (
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func TestZZNagle(t *testing.T) {
	key := newKey(t)
	n := newRealNode(t)
	n.create("pl_fake", key)
	g := n.gw
	for _, nodelay := range []bool{true, false} {
		for range 3 {
			start := time.Now()
			nc, _ := net.Dial("tcp", g.addr)
			nc.(*net.TCPConn).SetNoDelay(nodelay)
			c, chans, reqs, err := ssh.NewClientConn(nc, g.addr, &ssh.ClientConfig{User: "pl_fake", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
			if err != nil {
				t.Fatal(err)
			}
			cl := ssh.NewClient(c, chans, reqs)
			s, _ := cl.NewSession()
			s.Run("true")
			cl.Close()
			t.Logf("nodelay=%v %v", nodelay, time.Since(start))
		}
	}
}
