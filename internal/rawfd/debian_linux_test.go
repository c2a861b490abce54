package rawfd

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// debianPackages are the measurement tools TestDebianTools runs, as
// Debian ships them (unpacked: no maintainer script, so ping has no file
// capability, as in a sliver).
var debianPackages = []string{"iputils-ping", "iputils-tracepath", "traceroute", "mtr-tiny"}

// debianImage unpacks debianPackages from the apt mirror into a new image
// with the host's shared libraries they need (the host is Debian too).
func debianImage(t testing.TB) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "image")
	for _, d := range []string{"etc", "tmp", "proc", "dev", "sys", "root"} {
		if err := os.MkdirAll(filepath.Join(img, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	debs := t.TempDir()
	get := exec.Command("apt-get", append([]string{"download", "-q"}, debianPackages...)...)
	get.Dir = debs
	if out, err := get.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download %v (the apt mirror): %v\n%s", debianPackages, err, out)
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, f := range files {
		if out, err := exec.Command("dpkg-deb", "-x", f, img).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", f, err, out)
		}
	}
	libs := map[string]bool{}
	lib := regexp.MustCompile(`(/\S+\.so[.\d]*)`)
	for _, bin := range []string{"bin/ping", "usr/bin/tracepath", "usr/bin/traceroute.db", "usr/bin/mtr", "usr/bin/mtr-packet"} {
		out, err := exec.Command("ldd", filepath.Join(img, bin)).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", bin, err)
		}
		for _, m := range lib.FindAllString(string(out), -1) {
			libs[m] = true
		}
	}
	for l := range libs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(img, l)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// TestDebianTools runs Debian's iputils ping and tracepath, traceroute
// (UDP, ICMP and TCP methods) and mtr, unmodified, as an unprivileged user
// of a sliver: ping through an ICMP datagram or raw socket, traceroute -I
// through a raw ICMP socket that the node hands over.
func TestDebianTools(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	var s *testSlice
	// The port reserved for the slice (tcp/6100) and those its own
	// sockets are bound to, as the node reads them (without the port
	// manager's check that no one else uses them: here no one does).
	srv := newServer(t, p, func(string) (ports []Port, err error) {
		if s == nil {
			return nil, nil
		}
		err = nettest.InNS(p.SendNS, func() (err error) {
			ports, err = BoundPorts(s.UIDBase, s.UIDCount)
			return err
		})
		return append(ports, Port{6, 6100}), err
	})
	s = newSlice(t, srv, p.SendNS, 71)
	tcpPeer(t, p, 8088)
	s.cfg.Image = debianImage(t)
	if err := nettest.InNS(p.SendNS, func() error {
		_, _, err := WidenPingGroups(GroupRange{s.UIDBase, s.UIDBase + s.UIDCount - 1})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	peer, peer6 := p.RecvIP.String(), p.RecvIP6.String()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"ping", []string{"/bin/ping", "-n", "-c", "2", "-W", "2", peer}, "2 received"},
		{"ping6", []string{"/bin/ping", "-6", "-n", "-c", "1", "-W", "2", peer6}, "1 received"},
		{"tracepath", []string{"/usr/bin/tracepath", "-n", peer}, "reached"},
		{"traceroute-udp", []string{"/usr/bin/traceroute.db", "-n", "-q", "1", peer}, " 1  " + peer + " "},
		{"traceroute-icmp", []string{"/usr/bin/traceroute.db", "-I", "-n", "-q", "1", peer}, " 1  " + peer + " "},
		{"mtr", []string{"/usr/bin/mtr", "-r", "-n", "-c", "2", peer}, "|-- " + peer},
		// TCP from a port the slice holds (traceroute picks one it binds
		// at that moment otherwise, before the node has seen it).
		{"traceroute-tcp", []string{"/usr/bin/traceroute.db", "-T", "--sport=6100", "-p", "8088", "-n", "-q", "1", peer}, " 1  " + peer + " "},
		{"traceroute-tcp-unheld-port", []string{"/usr/bin/traceroute.db", "-T", "--sport=6200", "-p", "8088", "-n", "-q", "1", peer}, "send: Operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := s.run(t, tc.args...)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("%s in the sliver: exit %d, want %q in:\n%s", strings.Join(tc.args, " "), code, tc.want, out)
			}
			t.Logf("%s", out)
		})
	}
}

// run runs a command in the sliver as its user 1000 and returns its
// output and exit status.
func (s *testSlice) run(t testing.TB, args ...string) (string, int) {
	t.Helper()
	var out testutil.Buffer
	p := s.startCmd(t, &out, args)
	code, err := p.Wait()
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return out.String(), code
}

// tcpPeer listens on TCP port in the pair's receiving namespace until the
// test ends.
func tcpPeer(t testing.TB, p *nettest.Pair, port int) {
	t.Helper()
	var l net.Listener
	if err := nettest.InNS(p.RecvNS, func() (err error) {
		l, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}
