package sniff

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/netfilter"
	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestStream tags two slivers by UID in a namespace of its own, sends a
// datagram as each and as root, and checks the stream names the right
// slice for each: the node's own as "".
func TestStream(t *testing.T) {
	testutil.RequireRoot(t)
	name := fmt.Sprintf("orbistest-sniff-%d", os.Getpid())
	ns := "/run/netns/" + name
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	const group = 7
	tagger, err := netfilter.New(netfilter.Config{Table: "orbistest_sniff", NetNS: ns, LogGroup: group, Log: testutil.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tagger.Close() })
	uidA, uidB := uint32(1_800_000_000+os.Getpid()%100000*20), uint32(1_800_000_010+os.Getpid()%100000*20)
	ctx := testutil.Context(t)
	for i, s := range []netfilter.Sliver{{Name: "orbistest-a", UIDBase: uidA, UIDCount: 10, Index: 1},
		{Name: "orbistest-b", UIDBase: uidB, UIDCount: 10, Index: 2}} {
		if err := tagger.Set(ctx, s); err != nil {
			t.Fatalf("set sliver %d: %v", i, err)
		}
	}
	stream := NewStream()
	src, err := Open(Config{Group: group, NetNS: ns, Log: testutil.Logger(t), Slice: tagger.SliceOfMark})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- src.Run(runCtx, stream) }()
	t.Cleanup(func() {
		stop()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	packets, _ := stream.Subscribe(ctx, 1000)

	sink := udpSocket(t, ns, 0)
	to := localPort(t, sink)
	want := map[uint16]string{}
	for _, u := range []struct {
		uid   uint32
		slice string
	}{{uidA + 3, "orbistest-a"}, {uidB, "orbistest-b"}, {0, ""}} {
		fd := udpSocket(t, ns, u.uid)
		want[localPort(t, fd)] = u.slice
		if err := unix.Sendto(fd, []byte("orbis-sniff"), 0, &unix.SockaddrInet4{Port: int(to), Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case p := <-packets:
			slice, ok := want[p.SrcPort]
			if !ok || p.DstPort != to || p.Proto != 17 {
				continue
			}
			if p.Slice != slice || p.Src != netip.MustParseAddr("127.0.0.1") || p.Len != 20+8+len("orbis-sniff") {
				t.Errorf("packet from port %d: %+v, want slice %q, 127.0.0.1, %d bytes", p.SrcPort, p, slice, 39)
			}
			delete(want, p.SrcPort)
		case <-deadline:
			t.Fatalf("no packet on the stream from the ports (and slices) %v", want)
		}
	}
	if d := stream.KernelDropped(); d != 0 {
		t.Errorf("the kernel dropped %d packets", d)
	}
}

// udpSocket opens a UDP socket on 127.0.0.1 in ns owned by uid (its
// creator's filesystem UID, as nftables' meta skuid sees it).
func udpSocket(t *testing.T, ns string, uid uint32) int {
	t.Helper()
	var fd int
	err := nettest.InNS(ns, func() (err error) {
		unix.Setfsuid(int(uid))
		defer unix.Setfsuid(0)
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	})
	if err != nil {
		t.Fatalf("udp socket for uid %d: %v", uid, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func localPort(t *testing.T, fd int) uint16 {
	t.Helper()
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return uint16(sa.(*unix.SockaddrInet4).Port)
}
