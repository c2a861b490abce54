package testbed_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orbisproject/orbis/internal/portmgr"
	"github.com/orbisproject/orbis/internal/sandbox"
	"github.com/orbisproject/orbis/internal/sensor"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// startHostile runs /root/hostile with args in the slice's sliver on n
// until the test ends, and returns once it printed a line starting with
// ready.
func startHostile(t *testing.T, key, slice string, n testbed.Node, ready string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := sshCmd(ctx, key, slice, n, "exec /root/hostile "+strings.Join(args, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s: hostile %v ended before %q", slice, args, ready)
			}
			if strings.HasPrefix(l, ready) {
				return l
			}
		case <-timeout:
			t.Fatalf("%s: hostile %v: no %q in 60 s", slice, args, ready)
		}
	}
}

// hostileNode brings up a one-node testbed with a sliver of each of
// slices, each with a user of its own and /root/hostile, and returns the
// users' keys in the order of slices, and the hostile binary.
func hostileNode(t *testing.T, slices ...string) (*testbed.State, testbed.Node, []string, string) {
	t.Helper()
	testutil.RequireRoot(t)
	bin := buildStatic(t, "./testdata/hostile", "hostile")
	st, _ := up(t, testConfig(t, 1))
	n := st.Nodes[0]
	p := newPLC(t, st)
	var keys []string
	for _, slice := range slices {
		email := strings.ReplaceAll(slice, "_", "-") + "@orbis.test"
		key := newUser(t, p, email)
		newSlice(p, slice, email)
		p.call("AddSliceToNodes", slice, []any{n.Hostname})
		waitRunning(t, p, slice, 1)
		copyToSliver(t, key, slice, n, bin, "/root/hostile")
		keys = append(keys, key)
	}
	return st, n, keys, bin
}

// TestPortHog has one slice bind every port of the node's ephemeral
// range, as it may with 32 processes under its open-file limit, and
// checks that another slice can still send UDP and connect over TCP: the
// kernel picks an unbound socket's port from that range, so a slice that
// holds all of it takes every other slice's, and the node's own, outgoing
// connections (DNS, the node agent's new connections to central).
func TestPortHog(t *testing.T) {
	testutil.RequireRoot(t)
	hog, vic := testbed.Site+"_hog", testbed.Site+"_vic"
	st, n, keys, hostBin := hostileNode(t, hog, vic)
	hogKey, vicKey := keys[0], keys[1]
	cu, err := url.Parse(st.CentralURL)
	if err != nil {
		t.Fatal(err)
	}
	probeArgs := []string{"probe", st.HostAddr + ":53", cu.Host}
	probe := "/root/hostile " + strings.Join(probeArgs, " ")
	if out := ssh(t, vicKey, vic, n, probe); out != "udp: ok\ntcp: ok\n" {
		t.Fatalf("before the hog: %q", out)
	}
	// The node's root, in the node's network namespace, in no sliver.
	nodeProbe := func() string {
		out, err := exec.Command("nsenter", append([]string{"--net=" + n.Netns, hostBin}, probeArgs...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("the node's probe: %v: %s", err, out)
		}
		return string(out)
	}
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			held := startHostile(t, hogKey, hog, n, "held", "hold", proto, "32768", "60999")
			t.Logf("%s: %s %s ports of the ephemeral range 32768-60999", hog, held, proto)
			if got, err := strconv.Atoi(strings.TrimPrefix(held, "held ")); err != nil || got > portmgr.DefaultMaxSockets {
				t.Errorf("%s %s: more ports than its quota of %d sockets", hog, held, portmgr.DefaultMaxSockets)
			}
			out := ssh(t, vicKey, vic, n, probe)
			if !strings.Contains(out, proto+": ok") {
				t.Errorf("while %s holds the ephemeral range, %s's probe: %s", hog, vic, strings.ReplaceAll(strings.TrimSpace(out), "\n", "; "))
			}
			if out := nodeProbe(); !strings.Contains(out, proto+": ok") {
				t.Errorf("while %s holds the ephemeral range, the node's probe: %s", hog, strings.ReplaceAll(strings.TrimSpace(out), "\n", "; "))
			}
		})
	}
}

// TestServicePortSquat has a slice listen on the node's service ports
// (SSH gateway, sensor, traffic auditor) on every address but the one
// the service listens on, as a slice posing as the node's sensor to
// remote clients would: `httpd -p NODEADDR:33080` while the sensor
// listens on 127.0.0.1:33080. Each must be refused by the port manager
// (EPERM), whatever the address.
func TestServicePortSquat(t *testing.T) {
	testutil.RequireRoot(t)
	atk := testbed.Site + "_squat"
	_, n, keys, _ := hostileNode(t, atk)
	_, sshPort, _ := net.SplitHostPort(n.SSHAddr)
	_, auditPort, _ := net.SplitHostPort(n.AuditAddr)
	_, sensorPort, _ := net.SplitHostPort(sensor.DefaultAddr)
	for _, port := range []string{sshPort, sensorPort, auditPort} {
		for _, host := range []string{n.Addr, "127.0.0.1", "0.0.0.0", "::"} {
			addr := net.JoinHostPort(host, port)
			out := ssh(t, keys[0], atk, n, "/root/hostile listen "+addr)
			if !strings.Contains(out, "operation not permitted") {
				t.Errorf("slice %s listening on %s, the node's service port: %s", atk, addr, strings.TrimSpace(out))
			}
		}
	}
}

// TestAbstractSockets has a slice listen on an abstract Unix socket and
// another slice on the same node connect to it: slivers share the node's
// network namespace, and with it the abstract socket namespace, so nothing
// but a scope of the sliver's own keeps one slice from another's
// abstract sockets (X11, D-Bus and many daemons listen there, trusting
// that only the machine's own users can reach them). It also tries the
// node's own abstract socket, and reads /proc/net/unix for other slices'
// names.
func TestAbstractSockets(t *testing.T) {
	testutil.RequireRoot(t)
	if !sandbox.AbstractSocketsScoped() {
		t.Skip("this kernel has no Landlock abstract Unix socket scope (Linux 6.12): slivers share abstract sockets")
	}
	atk, vic := testbed.Site+"_absatk", testbed.Site+"_absvic"
	_, n, keys, _ := hostileNode(t, atk, vic)
	atkKey, vicKey := keys[0], keys[1]
	startHostile(t, vicKey, vic, n, "listening", "absl", "orbis-victim")
	if out := ssh(t, vicKey, vic, n, "/root/hostile absc orbis-victim"); !strings.Contains(out, `"secret"`) {
		t.Fatalf("the victim's own connection: %q", out)
	}
	if out := ssh(t, atkKey, atk, n, "/root/hostile absc orbis-victim"); strings.Contains(out, "secret") {
		t.Errorf("slice %s reached slice %s's abstract socket @orbis-victim: %s", atk, vic, strings.TrimSpace(out))
	}
	// The node's own abstract sockets: the testbed's nodes are network
	// namespaces, and this one listens in the node's.
	name := fmt.Sprintf("orbis-node-%d", os.Getpid())
	reached := listenAbstractIn(t, n, name)
	if out := ssh(t, atkKey, atk, n, "/root/hostile absc "+name); strings.Contains(out, "connected") {
		t.Errorf("slice %s reached the node's abstract socket @%s: %s", atk, name, strings.TrimSpace(out))
	}
	select {
	case <-reached:
		t.Errorf("slice %s connected to the node's abstract socket @%s", atk, name)
	default:
	}
	// /proc/net/unix lists the node's sockets to every sliver: the
	// slivers' control sockets must not name their slices.
	if out := ssh(t, atkKey, atk, n, "cat /proc/net/unix"); strings.Contains(out, "/"+vic+"/") {
		t.Errorf("slice %s's /proc/net/unix names slice %s:\n%s", atk, vic, out)
	}
}

// listenAbstractIn listens on the abstract Unix socket @name in n's
// network namespace, as a process of the node outside every sliver, until
// the test ends; the channel gets a value for each connection.
func listenAbstractIn(t *testing.T, n testbed.Node, name string) <-chan struct{} {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		// The thread stays locked and ends with the goroutine: it is
		// never used again in the node's namespace.
		runtime.LockOSThread()
		ns, err := os.Open(n.Netns)
		if err == nil {
			err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
			ns.Close()
		}
		if err != nil {
			res <- result{nil, fmt.Errorf("enter %s: %w", n.Netns, err)}
			return
		}
		l, err := net.Listen("unix", "@"+name)
		res <- result{l, err}
	}()
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.l.Close() })
	reached := make(chan struct{}, 1)
	go func() {
		for {
			c, err := r.l.Accept()
			if err != nil {
				return
			}
			c.Close()
			select {
			case reached <- struct{}{}:
			default:
			}
		}
	}()
	return reached
}
