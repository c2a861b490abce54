package rawsock

import (
	"errors"
	"fmt"
	"io"
	"net"

	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/testutil"
)

// TestConnectionBounds: a slice opening more connections and bindings
// than its bounds gets clear refusals, another slice still opens its raw
// socket, and the service's file descriptors stay within their bound.
func TestConnectionBounds(t *testing.T) {
	const perSlice, bindings, total = 4, 3, 6
	c, dir, sock, uid := newServiceChain(t, func(cfg *Config) {
		cfg.MaxConnsPerSlice, cfg.MaxBindingsPerSlice, cfg.MaxConns = perSlice, bindings, total
	})
	// Once the service answers (root is no sliver: refused), it holds
	// all its own fds.
	if _, err := wire.Dial(testutil.Context(t), sock, wire.ProtoICMP, 0); !errors.Is(err, wire.ErrRefused) {
		t.Fatalf("root's bind: %v, want a refusal", err)
	}
	before := openFDs(t)
	attacker := startSliver(t, c.A, dir, uid, sock, "many", "10")
	var out []string
	for range 10 {
		out = append(out, attacker.line(t))
	}
	tooMany := "hangup: raw socket service: too many connections: slice orbistest-a holds 4 connections to the raw socket service, the most it may"
	want := []string{"0: ok", "1: ok", "2: ok",
		"3: refused: slice orbistest-a has 3 bound raw and sniffer sockets, the most it may have"}
	for i := 4; i < 10; i++ {
		want = append(want, fmt.Sprintf("%d: %s", i, tooMany))
	}
	wantLines(t, out, want)
	held := openFDs(t)
	t.Logf("service's fds: %d before, %d while the attacker holds its connections", before, held)
	if held-before > perSlice*FDsPerConn {
		t.Errorf("the attacker's connections hold %d fds of the service, more than %d", held-before, perSlice*FDsPerConn)
	}
	// Another slice still gets its raw sockets, up to the service's bound.
	other := startSliver(t, c.A, dir, uid+1, sock, "many", "3").lines(t)
	wantLines(t, other, []string{"0: ok", "1: ok",
		"2: hangup: raw socket service: too many connections: the raw socket service holds 6 connections, the most it may; try again later"})
	attacker.lines(t)
	waitFor(t, "the service to close the slices' connections", func() bool { return openFDs(t) <= before })
}

// TestMemoryBound: a slice that holds as many sniffers as it may and
// reads none of them, on a port flooded at full speed, makes the service
// hold no more memory than its bounds allow.
func TestMemoryBound(t *testing.T) {
	// Long queues of few bytes: the bytes bound is the one that holds.
	const queueBytes = 64 << 10
	c, dir, sock, uid := newServiceChain(t, func(cfg *Config) {
		cfg.RecheckEvery, cfg.QueueLen, cfg.QueueBytes = time.Hour, 4096, queueBytes
	})
	before := heapInUse()
	p := startSliver(t, c.A, dir, uid, sock, "many", fmt.Sprint(DefaultMaxConnsPerSlice), "udp/5000:sniff")
	for range DefaultMaxConnsPerSlice {
		p.line(t)
	}
	conn := peerToUDP5000(t, c)
	buf := make([]byte, 1400)
	sent := 0
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); sent++ {
		conn.Write(buf)
	}
	time.Sleep(300 * time.Millisecond)
	held := heapInUse()
	// Per binding: its queue's bytes and slots, and its capture buffer;
	// per connection: its read buffer; and room for the rest.
	bound := DefaultMaxBindingsPerSlice*(queueBytes+4096*24+64<<10) + DefaultMaxConnsPerSlice*(64<<10) + 8<<20
	t.Logf("%d packets of 1400 bytes to %d sniffers that do not read: heap in use %d KiB before, %d KiB after (bound %d KiB)",
		sent, DefaultMaxBindingsPerSlice, before>>10, held>>10, bound>>10)
	if held-before > uint64(bound) {
		t.Errorf("the service holds %d KiB more, over its bound of %d KiB", (held-before)>>10, bound>>10)
	}
	p.lines(t)
}

// heapInUse is this process's (the service's) live heap after a GC.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// openFDs counts this process's open file descriptors (the service's).
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// childMany opens args[0] connections to the service one after the
// other, keeping them all, and on each binds by hand an ICMP identifier,
// or what args[1] says ("udp/5000:sniff": a sniffer), then never reads
// again: it prints "i: ok", "i: refused: <why>", or "i: hangup: <why>"
// for a connection the service closed at once.
func childMany(sock string, args []string) error {
	var n int
	fmt.Sscan(args[0], &n)
	bind := wire.Message{Type: wire.MsgBind, Seq: 1, Body: wire.BindBody(wire.ProtoICMP, 0)}
	if len(args) > 1 {
		spec, sniff := strings.CutSuffix(args[1], ":sniff")
		b := parseBinding(spec)
		bind.Body = wire.BindBody(b.Proto, b.Port)
		if sniff {
			bind.Flags = wire.FlagSniff
		}
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, wire.MaxMessage)
	for i := range n {
		c, err := net.Dial("unixpacket", sock)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		c.Write(bind.Marshal())
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := c.Read(buf)
		if errors.Is(err, syscall.ECONNRESET) { // hung up with our bind unread: the hang-up follows
			k, err = c.Read(buf)
		}
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		m, err := wire.ParseMessage(buf[:k])
		switch {
		case err != nil || len(m.Body) == 0:
			return fmt.Errorf("connection %d: answer %x: %v", i, buf[:k], err)
		case m.Type == wire.MsgHangup:
			fmt.Printf("%d: hangup: %v\n", i, &wire.Error{Status: m.Body[0], Message: string(m.Body[1:])})
		case m.Body[0] == wire.StatusOK:
			fmt.Printf("%d: ok\n", i)
		default:
			fmt.Printf("%d: refused: %s\n", i, m.Body[1:])
		}
	}
	_, err := io.Copy(io.Discard, os.Stdin)
	return err
}
