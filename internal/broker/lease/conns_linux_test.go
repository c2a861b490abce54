package lease

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/testutil"
)

// clientEnv, when set, makes the test binary a client of the broker at
// the address it names instead of running tests: "flood ADDR" holds 300
// idle connections, "legit ADDR" makes 20 requests and says how many
// worked.
const clientEnv = "ORBIS_LEASE_TEST_CLIENT"

func TestMain(m *testing.M) {
	if v := os.Getenv(clientEnv); v != "" {
		role, addr, _ := strings.Cut(v, " ")
		runClient(role, addr)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runClient(role, addr string) {
	switch role {
	case "flood":
		var held []net.Conn
		for range 300 {
			if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
				held = append(held, c)
			}
		}
		fmt.Println("open", len(held))
		time.Sleep(time.Minute)
	case "legit":
		ok := 0
		cl := &http.Client{Timeout: 5 * time.Second}
		for range 20 {
			resp, err := cl.Get("http://" + addr + "/v1/info")
			if err != nil {
				fmt.Println("failed:", err)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok++
			}
		}
		fmt.Println("ok", ok)
	}
}

// asUser runs this test binary as client role of addr, as host UID uid
// (a user of this host, as a sliver's processes are).
func asUser(t *testing.T, uid uint32, role, addr string) *exec.Cmd {
	t.Helper()
	dir, err := os.MkdirTemp("", "orbistest-lease-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "client")
	self, err := os.ReadFile("/proc/self/exe")
	if err != nil || os.WriteFile(bin, self, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), clientEnv+"="+role+" "+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd
}

// TestConnsPerClient performs issue 18's flood of the lease broker: a
// client opens 300 idle connections, then another client makes 20
// requests. The flooder keeps at most DefaultMaxConnsPerClient; every
// request of the other succeeds.
func TestConnsPerClient(t *testing.T) {
	testutil.RequireRoot(t)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Book: openBook(t, t.TempDir()), Cap: FixedCapacity{Cap: Capacity{Slivers: 1, CPUShares: 10}}, Log: testutil.Logger(t)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	l := limitConns(tl, Config{Log: testutil.Logger(t)})
	go func() { done <- srv.Serve(ctx, l) }()
	addr := tl.Addr().String()

	flood := asUser(t, 3_900_100_000, "flood", addr)
	out, err := flood.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flood.Process.Kill(); flood.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	t.Logf("flooder: %s", strings.TrimSpace(line))
	time.Sleep(200 * time.Millisecond) // the server has accepted (and closed) them all
	if n := l.(interface{ Open(string) int }).Open("3900100000"); n > DefaultMaxConnsPerClient {
		t.Errorf("the flooder holds %d connections, want at most %d", n, DefaultMaxConnsPerClient)
	}
	res, err := asUser(t, 3_900_200_000, "legit", addr).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "ok 20") {
		t.Fatalf("a legitimate client during the flood: %v\n%s", err, res)
	}
	flood.Process.Kill()
	flood.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}
