package rawfd

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/orbisproject/orbis/internal/nettest"
	"github.com/orbisproject/orbis/internal/testutil"
)

// debianPackages are the measurement tools the Debian tests run, as
// Debian ships them (unpacked: no maintainer script, so ping has no file
// capability, as in a sliver), with the libraries and Python that hping3
// and scapy need and a host may lack.
var debianPackages = []string{"iputils-ping", "iputils-tracepath", "traceroute", "mtr-tiny",
	"hping3", "libpcap0.8", "libtcl8.6", "libdbus-1-3",
	"python3-scapy", "python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "netbase"}

// debianBins are the programs of debianPackages whose shared libraries
// the image gets from the host when the packages do not bring them.
var debianBins = []string{"bin/ping", "usr/bin/tracepath", "usr/bin/traceroute.db", "usr/bin/mtr", "usr/bin/mtr-packet",
	"usr/sbin/hping3", "usr/bin/python3.11"}

var (
	debianOnce sync.Once
	debianDir  string
	debianErr  error
)

// debianImage returns an image with debianPackages unpacked from the apt
// mirror, the host's shared libraries they need (the host is Debian too)
// and testdata/scapyprobe.py, made once per test binary.
func debianImage(t testing.TB) string {
	t.Helper()
	debianOnce.Do(func() {
		if debianDir, debianErr = os.MkdirTemp("", "orbistest-rawfd-debian-"); debianErr == nil {
			debianErr = buildDebianImage(debianDir)
		}
	})
	if debianErr != nil {
		t.Fatalf("Debian image: %v", debianErr)
	}
	return debianDir
}

func buildDebianImage(img string) error {
	for _, d := range []string{"etc", "tmp", "proc", "dev", "sys", "root", "usr/local/bin"} {
		if err := os.MkdirAll(filepath.Join(img, d), 0o755); err != nil {
			return err
		}
	}
	os.Chmod(filepath.Join(img, "tmp"), 0o1777)
	debs := filepath.Join(img, "tmp", "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(debs)
	get := exec.Command("apt-get", append([]string{"download", "-q"}, debianPackages...)...)
	get.Dir = debs
	if out, err := get.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %v (the apt mirror): %w\n%s", debianPackages, err, out)
	}
	files, _ := filepath.Glob(filepath.Join(debs, "*.deb"))
	for _, f := range files {
		if out, err := exec.Command("dpkg-deb", "-x", f, img).CombinedOutput(); err != nil {
			return fmt.Errorf("dpkg-deb -x %s: %w\n%s", f, err, out)
		}
	}
	bins := slices.Clone(debianBins)
	dynload, _ := filepath.Glob(filepath.Join(img, "usr/lib/python3.11/lib-dynload/*.so"))
	for _, so := range dynload {
		bins = append(bins, strings.TrimPrefix(so, img+"/"))
	}
	libs := map[string]bool{}
	lib := regexp.MustCompile(`(/\S+\.so[.\d]*)`)
	for _, bin := range bins {
		// The packages' own libraries first.
		ldd := exec.Command("ldd", filepath.Join(img, bin))
		ldd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(img, "usr/lib/x86_64-linux-gnu")+":"+filepath.Join(img, "lib/x86_64-linux-gnu"))
		out, err := ldd.Output()
		if err != nil {
			return fmt.Errorf("ldd %s: %w", bin, err)
		}
		for _, m := range lib.FindAllString(string(out), -1) {
			if !strings.HasPrefix(m, img+"/") {
				libs[m] = true
			}
		}
	}
	for l := range libs {
		b, err := os.ReadFile(l)
		if err != nil {
			return err
		}
		dst := filepath.Join(img, l)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			return err
		}
	}
	script, err := os.ReadFile("testdata/scapyprobe.py")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(img, "usr/local/bin/scapyprobe.py"), script, 0o644)
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

// TestDebianPacketTools runs Debian's hping3 (which sends through a raw
// socket and receives through libpcap's packet socket) and a scapy script
// (python3-scapy: sr1 sends through a raw socket, receives through a
// packet socket), unmodified, as an unprivileged user of a sliver: they
// get the replies of their own flows (UDP, TCP to an open and a closed
// port, ICMP echo), get nothing when they aim from another slice's port
// or spoof a source (which never reaches the peer), while another
// slice's packet socket sees none of it.
func TestDebianPacketTools(t *testing.T) {
	requireNotify(t)
	p := nettest.NewPair(t)
	nettest.Listen(t, p, 7, true)
	tcpPeer(t, p, 8088)
	a, b := fmt.Sprintf("rawfd%d", slivers.Load()+1), fmt.Sprintf("rawfd%d", slivers.Load()+2)
	srv := packetServer(t, p, map[string][]Port{a: {{17, 5000}, {17, 5002}, {6, 6100}}, b: {{17, 5001}}})
	sa := newSlice(t, srv, p.SendNS, 85)
	sb := newSlice(t, srv, p.SendNS, 86)
	if sa.Name != a || sb.Name != b {
		t.Fatalf("slices %s, %s: want %s, %s", sa.Name, sb.Name, a, b)
	}
	sa.cfg.Image = debianImage(t)
	c := startCapture(t, p)
	var outB testutil.Buffer
	pb := sb.start(t, &outB, "pkt", "listen", "any", "60")
	waitFor(t, &outB, "ready")
	peer := p.RecvIP.String()
	received := regexp.MustCompile(`(\d+) packets received`)
	hping := "/usr/sbin/hping3"
	scapy := []string{"/usr/bin/python3.11", "/usr/local/bin/scapyprobe.py", peer}
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		reply bool // for hping3: packets received
	}{
		{"hping3-udp", []string{hping, "-2", "-c", "2", "-s", "5000", "-k", "-p", "7", "-e", "HPINGUDP", peer}, "len=", true},
		{"hping3-tcp-open", []string{hping, "-S", "-c", "2", "-s", "6100", "-k", "-p", "8088", peer}, "flags=SA", true},
		{"hping3-tcp-closed", []string{hping, "-S", "-c", "2", "-s", "6100", "-k", "-p", "8089", peer}, "flags=RA", true},
		{"hping3-icmp", []string{hping, "-1", "-c", "2", peer}, "icmp_seq=", true},
		{"hping3-other-slice-port", []string{hping, "-2", "-c", "2", "-s", "5001", "-k", "-p", "7", peer}, "sendto: Operation not permitted", false},
		{"hping3-spoof", []string{hping, "-2", "-c", "2", "-a", "10.201.0.9", "-s", "5000", "-k", "-p", "7", "-e", "HPINGSPOOF", peer}, "sendto: Operation not permitted", false},
		{"scapy-udp", append(scapy, "udp", "5002", "7"), "udp reply: IP / UDP " + peer + ":echo > ", false},
		{"scapy-icmp", append(scapy, "icmp", "20817"), "icmp reply: IP / ICMP " + peer + " > ", false},
		{"scapy-other-slice-port", append(scapy, "udp", "5001", "7"), "udp reply: none", false},
		{"scapy-spoof", append(scapy, "spoof", "10.201.0.9", "7"), "spoof reply: none", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := sa.run(t, tc.args...)
			t.Logf("%s", out)
			if !strings.Contains(out, tc.want) {
				t.Fatalf("%s in the sliver: exit %d, want %q in:\n%s", strings.Join(tc.args, " "), code, tc.want, out)
			}
			if tc.args[0] != hping {
				return
			}
			// Refused: hping3 stops at its first send (EPERM), or
			// reports no reply.
			m := received.FindStringSubmatch(out)
			switch {
			case tc.reply && (m == nil || m[1] == "0"):
				t.Fatalf("hping3 got no reply (exit %d):\n%s", code, out)
			case !tc.reply && (strings.Contains(out, "len=") || m != nil && m[1] != "0"):
				t.Fatalf("hping3 got replies:\n%s", out)
			}
		})
	}
	if c.seen("HPINGUDP") == 0 {
		t.Error("the peer's capture missed hping3's own datagrams")
	}
	for _, mark := range []string{"HPINGSPOOF", "SCAPYSPOOF"} {
		if n := c.seen(mark); n != 0 {
			t.Errorf("%d packets with a spoofed source (%s) reached the peer", n, mark)
		}
	}
	pb.Signal(9)
	pb.Wait()
	if strings.Contains(outB.String(), "saw ") {
		t.Errorf("another slice's packet socket saw the tools' packets:\n%s", outB.String())
	}
}
