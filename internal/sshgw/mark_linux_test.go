package sshgw

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/netfilter"
	"github.com/orbisproject/orbis/internal/reexec"
)

// markEntry is the test binary's entry point that a sliver runs to claim
// a mark.
const markEntry = "orbistest-sshgw-somark"

func init() { reexec.Register(markEntry, markMain) }

// markMain tries to set the SO_MARK in its argument on a TCP socket and
// prints the outcome.
func markMain() {
	mark, _ := strconv.ParseUint(os.Args[1], 0, 32)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(mark))
	}
	fmt.Printf("SO_MARK %#x: %v\n", mark, err)
	os.Exit(0)
}

// TestSliverCannotMark has a sliver's root try to put another slice's
// socket mark (netfilter.SocketMark, which the gateway puts on that
// slice's connections) on a socket of its own, to send as that slice: the
// kernel refuses, since the sliver lacks CAP_NET_ADMIN and CAP_NET_RAW
// in the node's user namespace.
func TestSliverCannotMark(t *testing.T) {
	n := newRealNode(t)
	key, _ := newKeyPair(t)
	n.create("pl_marker", key)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n.install("pl_marker", exe, "/usr/local/bin/"+markEntry)
	mark := netfilter.SocketMark(1)
	out := n.run("pl_marker", markEntry+" "+strconv.Itoa(int(mark)), nil)
	if want := fmt.Sprintf("SO_MARK %#x: operation not permitted", mark); !strings.Contains(out, want) {
		t.Errorf("a sliver's root setting SO_MARK: %q, want %q", out, want)
	}
}
