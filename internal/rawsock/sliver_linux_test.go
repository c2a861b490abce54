package rawsock

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	wire "github.com/orbisproject/orbis/api/rawsock"
	"github.com/orbisproject/orbis/internal/reexec"
)

// childEnv marks a re-executed test binary as a sliver's process: it runs
// childMain instead of the tests.
const childEnv = "ORBISTEST_RAWSOCK_SLIVER"

func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	if os.Getenv(childEnv) != "" {
		if err := childMain(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, "sliver:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childMain is a sliver's unprivileged program using the client: args
// are the service's socket, a mode and the mode's arguments. It prints
// one line per result.
func childMain(args []string) error {
	if err := checkUnprivileged(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sock, mode, rest := args[0], args[1], args[2:]
	switch mode {
	case "send":
		return childSend(ctx, sock, rest)
	case "bind":
		for _, a := range rest {
			b := parseBinding(a)
			c, err := wire.Dial(ctx, sock, b.Proto, b.Port)
			if err == nil {
				c.Close()
			}
			fmt.Printf("bind %s: refused=%v %v\n", b, errors.Is(err, wire.ErrRefused), err)
		}
		return nil
	case "recv", "hold":
		return childRecv(ctx, sock, mode, parseBinding(rest[0]))
	case "sniff":
		n, _ := strconv.Atoi(rest[1])
		return childSniff(ctx, sock, parseBinding(rest[0]), n)
	case "flood":
		return childFlood(sock)
	case "queue":
		return childQueue(ctx, sock, rest)
	case "batchraw":
		return childBatchRaw(sock, rest)
	case "bench":
		return childBench(ctx, sock, rest)
	case "serve":
		return childServe(rest)
	case "client":
		return childClient(rest)
	case "attack":
		return childAttack(ctx, sock, rest)
	case "many":
		return childMany(sock, rest)
	case "ping", "traceroute":
		return childTools(ctx, sock, mode, netip.MustParseAddr(rest[0]))
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// checkUnprivileged makes sure the child is what a sliver's user is: a
// non-root UID without capabilities.
func checkUnprivileged() error {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	if os.Getuid() == 0 || !strings.Contains(string(status), "CapEff:\t0000000000000000") {
		return fmt.Errorf("not unprivileged: uid %d", os.Getuid())
	}
	return nil
}

// childSend sends a good packet, one with the node's address but from
// another port, one from a forged address, and a segment the service
// wraps, then waits for its standard input to end: args are the node's
// and the peer's addresses.
func childSend(ctx context.Context, sock string, args []string) error {
	node, peer := netip.MustParseAddr(args[0]), netip.MustParseAddr(args[1])
	c, err := wire.Dial(ctx, sock, wire.ProtoUDP, 5000)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range []struct {
		name    string
		src     netip.Addr
		sport   uint16
		hdrincl bool
	}{
		{"orbis-good", node, 5000, true},
		{"orbis-forged-port", node, 5001, true},
		{"orbis-forged-addr", netip.MustParseAddr("10.202.1.99"), 5000, true},
		{"orbis-sendto", node, 5000, false},
		{"orbis-sendto-forged-port", node, 5002, false},
	} {
		seg := udpSeg(p.sport, 7000, p.name)
		if p.hdrincl {
			err = c.Send(ctx, ip(p.src, peer, wire.ProtoUDP, seg))
		} else {
			err = c.SendTo(ctx, peer, 0, seg)
		}
		fmt.Printf("%s: refused=%v %v\n", p.name, errors.Is(err, wire.ErrRefused), err)
	}
	_, err = io.Copy(io.Discard, os.Stdin) // the test looks at the socket meanwhile
	return err
}

// childRecv binds b and says "bound"; then "recv" prints the first
// packet it receives in hex, "hold" waits for its standard input to end.
func childRecv(ctx context.Context, sock, mode string, b Binding) error {
	c, err := wire.Dial(ctx, sock, b.Proto, b.Port)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("bound")
	if mode == "hold" {
		_, err := io.Copy(io.Discard, os.Stdin)
		return err
	}
	p, err := c.Receive(ctx)
	if err != nil {
		return err
	}
	fmt.Println(hex.EncodeToString(p))
	return nil
}

// parseBinding reads "udp/5000", "tcp/5000" or "icmp/77".
func parseBinding(s string) Binding {
	name, port, _ := strings.Cut(s, "/")
	n, _ := strconv.Atoi(port)
	proto := map[string]uint8{"tcp": wire.ProtoTCP, "udp": wire.ProtoUDP, "icmp": wire.ProtoICMP}[name]
	return Binding{Proto: proto, Port: uint16(n)}
}

// childTools runs ping (3 requests) or traceroute (at most 5 hops) and
// prints one line per answer: its sequence number or TTL and address.
func childTools(ctx context.Context, sock, mode string, dst netip.Addr) error {
	tools := wire.Tools{Path: sock, Interval: 100 * time.Millisecond, Timeout: 2 * time.Second}
	var rs []wire.Reply
	var err error
	if mode == "ping" {
		rs, err = tools.Ping(ctx, dst, 3)
	} else {
		rs, err = tools.Traceroute(ctx, dst, 5)
	}
	for _, r := range rs {
		fmt.Printf("%d %s\n", r.Seq, r.From)
	}
	return err
}

// sliverProc is a running child.
type sliverProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startSliver runs the test binary as a sliver's process: UID uid with no
// capabilities, inside the node's namespace ns (as a sliver shares its
// node's), through nsenter. The binary is copied to dir, which that UID
// can reach.
func startSliver(t testing.TB, ns, dir string, uid uint32, args ...string) *sliverProc {
	t.Helper()
	bin := filepath.Join(dir, "sliver.test")
	if _, err := os.Stat(bin); err != nil {
		copyFile(t, "/proc/self/exe", bin)
	}
	id := strconv.Itoa(int(uid))
	cmd := exec.Command("nsenter", append([]string{"--net=" + ns, "--setuid=" + id, "--setgid=" + id, "--", bin}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stderr = testWriter{t}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sliver: %v", err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return &sliverProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

// lines reads the child's output to its end and waits for it.
func (p *sliverProc) lines(t testing.TB) []string {
	t.Helper()
	p.in.Close()
	var lines []string
	for p.out.Scan() {
		lines = append(lines, p.out.Text())
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("sliver: %v (output %q)", err, lines)
	}
	return lines
}

// line reads one line of the child's output.
func (p *sliverProc) line(t testing.TB) string {
	t.Helper()
	if !p.out.Scan() {
		t.Fatalf("sliver said nothing: %v", p.cmd.Wait())
	}
	return p.out.Text()
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
