package testbed_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central/store/pgtest"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/node"
	"github.com/orbisproject/orbis/internal/nodemgr"
	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testbed"
	"github.com/orbisproject/orbis/internal/testutil"
)

// orbisBin is the orbis binary TestMain builds for the testbed's
// processes.
var orbisBin string

func TestMain(m *testing.M) {
	if reexec.Init() {
		os.Exit(0)
	}
	code := func() int {
		if os.Geteuid() != 0 {
			return pgtest.Run(m) // the root tests skip, or fail under CI
		}
		sweepDeadRuns()
		dir, err := os.MkdirTemp("", "orbistest-testbed-"+testPrefix(os.Getpid())+"-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		orbisBin = filepath.Join(dir, "orbis")
		if out, err := exec.Command(goTool(), "build", "-o", orbisBin, "github.com/orbisproject/orbis/cmd/orbis").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build orbis: %v\n%s", err, out)
			return 1
		}
		tools := exec.Command(goTool(), "build", "-o", filepath.Join(dir, "ping-orbis"), "github.com/orbisproject/orbis/internal/rawsock/cmd/ping-orbis")
		tools.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := tools.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build ping-orbis: %v\n%s", err, out)
			return 1
		}
		defer downBenchTestbed()
		return pgtest.Run(m)
	}()
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// A test run's objects are named orbtt<pid in base 36>x: unique among
// the runs alive, and never a prefix of the real testbed's "orbtb".
const testPrefixStart = "orbtt"

func testPrefix(pid int) string { return testPrefixStart + strconv.FormatInt(int64(pid), 36) + "x" }

// testConfig is a testbed of n nodes with this run's prefix, a subnet of
// its own and UIDs far from any real testbed's.
func testConfig(t testing.TB, n int) testbed.Config {
	pid := os.Getpid()
	dir, err := os.MkdirTemp("", "orbistest-testbed-"+testPrefix(pid)+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // after down, which up registers later
	return testbed.Config{
		Dir:       dir,
		Nodes:     n,
		Prefix:    testPrefix(pid),
		Subnet:    netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(1 + pid%250), 0}), 24),
		UIDBase:   3_000_000_000 + uint32(pid%200)*5*16*65536,
		UIDRanges: 16,
		Binary:    orbisBin,
		Log:       testutil.Logger(t),
	}
}

// sweepDeadRuns tears down the testbeds of test runs that died before
// their cleanup, found by their directories (state file, mounts) and
// their network namespaces' names.
func sweepDeadRuns() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "orbistest-testbed-"+testPrefixStart+"*"))
	ents, _ := os.ReadDir(testbed.NetnsDir)
	for _, e := range ents {
		dirs = append(dirs, e.Name()) // a namespace without a directory
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		rest, ok := strings.CutPrefix(filepath.Base(d), "orbistest-testbed-")
		if !ok {
			rest = d
		}
		prefix, _, ok := strings.Cut(rest, "x-")
		b36, isTest := strings.CutPrefix(prefix, testPrefixStart)
		if !ok || !isTest || (seen[prefix] && !filepath.IsAbs(d)) {
			continue
		}
		seen[prefix] = true
		if pid, err := strconv.ParseInt(b36, 36, 32); err == nil && processAlive(int(pid)) {
			continue
		}
		dir := d
		if !filepath.IsAbs(d) {
			dir, _ = os.MkdirTemp("", "orbistest-testbed-sweep-")
		}
		r, err := testbed.Down(context.Background(), testbed.Config{Dir: dir, Prefix: prefix + "x"})
		fmt.Fprintf(os.Stderr, "swept the testbed of a dead test run in %s: %v %v\n", dir, r, err)
		if err == nil {
			os.RemoveAll(dir)
		}
	}
}

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !bytes.Contains(b, []byte(") Z "))
}

// up starts a testbed and tears it down when the test ends, checking
// that nothing of it is left.
func up(t *testing.T, cfg testbed.Config) (*testbed.State, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	cfg.Out = &out
	t.Cleanup(func() {
		if _, err := testbed.Down(context.Background(), cfg); err != nil {
			t.Errorf("down: %v", err)
		}
	})
	st, err := testbed.Up(testutil.Context(t), cfg)
	if err != nil {
		t.Fatalf("up: %v\n%s", err, out.String())
	}
	return st, &out
}

// plc calls central's PLCAPI as the testbed's admin.
type plc struct {
	t    testing.TB
	rpc  *xmlrpc.Client
	auth map[string]any
}

func newPLC(t testing.TB, st *testbed.State) *plc {
	adm, err := testbed.ReadAdmin(st)
	if err != nil {
		t.Fatal(err)
	}
	rpc := xmlrpc.NewClient(st.CentralURL + "/PLCAPI/")
	rpc.HTTP = centralHTTP(t, st)
	return &plc{t: t, rpc: rpc, auth: xmlrpc.PasswordAuth(adm.Email, adm.Password)}
}

// centralVerifier verifies the testbed's central by its CA file.
func centralVerifier(t testing.TB, st *testbed.State) *api.Verifier {
	t.Helper()
	v, err := st.Verifier()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// centralHTTP is an HTTP client that verifies the testbed's central.
func centralHTTP(t testing.TB, st *testbed.State) *http.Client {
	return centralVerifier(t, st).HTTPClient()
}

// mustCAPin is central's CA as Chromium pins it: the base64 SHA-256 of
// its SubjectPublicKeyInfo.
func mustCAPin(t testing.TB, st *testbed.State) string {
	t.Helper()
	pem, err := os.ReadFile(st.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := api.ParseCA(pem)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func (p *plc) call(method string, args ...any) any {
	p.t.Helper()
	r, err := p.rpc.Call(context.Background(), method, append([]any{p.auth}, args...)...)
	if err != nil {
		p.t.Fatalf("%s: %v", method, err)
	}
	return r
}

// newUser makes a person at the testbed's site with a fresh SSH key and
// returns the private key's path.
func newUser(t testing.TB, p *plc, email string) string {
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	p.call("AddPerson", map[string]any{"first_name": "Tess", "last_name": "Bed", "email": email, "password": "testbed-password"})
	p.call("UpdatePerson", email, map[string]any{"enabled": true})
	p.call("AddRoleToPerson", "user", email)
	p.call("AddPersonToSite", email, testbed.Site)
	p.call("AddPersonKey", email, map[string]any{"key_type": "ssh", "key": strings.TrimSpace(string(pub))})
	return key
}

// newSlice makes a slice with the user in it (not yet on any node).
func newSlice(p *plc, name, email string) {
	p.call("AddSlice", map[string]any{"name": name, "url": "http://orbis.test", "description": "testbed test"})
	p.call("AddPersonToSlice", email, name)
}

// hostnames lists the testbed's nodes as AddSliceToNodes takes them.
func hostnames(st *testbed.State) []any {
	var out []any
	for _, n := range st.Nodes {
		out = append(out, n.Hostname)
	}
	return out
}

// sshArgs runs cmd as slice@addr with Debian's OpenSSH client.
func sshCmd(ctx context.Context, key, slice string, n testbed.Node, cmd string) *exec.Cmd {
	host, port, _ := net.SplitHostPort(n.SSHAddr)
	return exec.CommandContext(ctx, "ssh", "-p", port, "-i", key, "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", slice+"@"+host, cmd)
}

// ssh runs cmd in the slice's sliver on node n and returns its output.
func ssh(t testing.TB, key, slice string, n testbed.Node, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := sshCmd(ctx, key, slice, n, cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh %s@%s %q: %v\n%s", slice, n.Addr, cmd, err, out)
	}
	return string(out)
}

// buildStatic builds the Go package pkg (a module path, or a path from
// this folder) into a static binary named name, for slivers.
func buildStatic(t testing.TB, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goTool(), "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// copyToSliver copies the file bin into the slice's sliver on n as dest,
// executable, over SSH.
func copyToSliver(t testing.TB, key, slice string, n testbed.Node, bin, dest string) {
	t.Helper()
	f, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cp := sshCmd(ctx, key, slice, n, "cat > "+dest+" && chmod 755 "+dest)
	cp.Stdin = f
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy %s into %s@%s: %v\n%s", filepath.Base(bin), slice, n.Hostname, err, out)
	}
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leftovers lists every kernel object or process of the testbed that is
// still there: network namespaces, links, mounts under its directory,
// cgroups, its processes, and any process with a host UID of its nodes.
func leftovers(cfg testbed.Config, st *testbed.State) []string {
	var left []string
	ents, _ := os.ReadDir(testbed.NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), cfg.Prefix+"-") {
			left = append(left, "netns "+e.Name())
		}
	}
	ifs, _ := net.Interfaces()
	for _, i := range ifs {
		if strings.HasPrefix(i.Name, cfg.Prefix) {
			left = append(left, "link "+i.Name)
		}
	}
	if f, err := os.Open("/proc/self/mountinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fs := strings.Fields(sc.Text()); len(fs) > 4 && strings.HasPrefix(fs[4], cfg.Dir) {
				left = append(left, "mount "+fs[4])
			}
		}
		f.Close()
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + cfg.Prefix + "-*")
	for _, c := range cgs {
		left = append(left, "cgroup "+c)
	}
	procs := []testbed.Proc{st.Central}
	for _, n := range st.Nodes {
		procs = append(procs, n.Proc)
	}
	for _, p := range procs {
		if p.Alive() {
			left = append(left, fmt.Sprintf("process %d", p.Pid))
		}
	}
	runFiles, _ := filepath.Glob(filepath.Join(node.RunDir, "node-"+cfg.Prefix+"-n*.lock"))
	runDirs, _ := filepath.Glob(filepath.Join(node.RunDir, cfg.Prefix+"-n*"))
	for _, f := range append(runFiles, runDirs...) {
		left = append(left, "run file "+f)
	}
	claims, _ := filepath.Glob(filepath.Join(nodemgr.DefaultUIDClaimDir, "uid-*.lock"))
	for _, c := range claims {
		if b, _ := os.ReadFile(c); strings.HasPrefix(string(b), cfg.Dir+"/") {
			left = append(left, "uid claim "+c)
		}
	}
	return append(left, sliverProcs(st, cfg.UIDRanges)...)
}

// sliverProcs lists the processes whose owner is in a node's UID ranges.
func sliverProcs(st *testbed.State, ranges uint32) []string {
	var left []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		info, err := os.Stat("/proc/" + e.Name())
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil || bytes.Contains(stat, []byte(") Z ")) { // a zombie holds nothing
			continue
		}
		uid := info.Sys().(*syscall.Stat_t).Uid
		for _, n := range st.Nodes {
			if uid >= n.UIDBase && uint64(uid) < uint64(n.UIDBase)+uint64(ranges)*65536 {
				left = append(left, fmt.Sprintf("sliver process %s (uid %d) of %s", e.Name(), uid, n.Hostname))
			}
		}
	}
	return left
}
