package sensor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orbisproject/orbis/internal/reexec"
	"github.com/orbisproject/orbis/internal/testutil"
)

const clientChildName = "orbistest-sensor-client"

func init() { reexec.Register(clientChildName, clientChild) }

// clientChild is a sensor client under another UID. Arguments: mode,
// address, then for "idle", "half" and "stream" a count N, for "get"
// paths. It prints one line of results, then holds its connections
// until its standard input ends.
//
//   - idle: N keep-alive connections, each answered once and then idle;
//     prints how many were answered.
//   - half: N connections, each with half a request's header; prints how
//     many the server still holds a while later.
//   - stream: N /connects-stream requests; prints how many got 200.
//   - get: GETs each path on a new connection; prints "code,ms" each.
func clientChild() {
	mode, addr := os.Args[1], os.Args[2]
	var held []net.Conn
	switch mode {
	case "get":
		var out []string
		for _, p := range os.Args[3:] {
			out = append(out, timedGet(addr, p))
		}
		fmt.Println(strings.Join(out, " "))
	default:
		n, _ := strconv.Atoi(os.Args[3])
		for range n {
			if c, err := net.Dial("tcp", addr); err == nil {
				held = append(held, c)
			}
		}
		// All at once: the server's header timeout runs meanwhile.
		var got atomic.Int64
		var wg sync.WaitGroup
		for _, c := range held {
			wg.Go(func() {
				if childConn(c, mode) {
					got.Add(1)
				}
			})
		}
		wg.Wait()
		fmt.Println(got.Load())
	}
	io.Copy(io.Discard, os.Stdin)
	for _, c := range held {
		c.Close()
	}
	os.Exit(0)
}

// childConn does mode's part on c and says whether the server kept it.
func childConn(c net.Conn, mode string) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	switch mode {
	case "idle", "stream":
		path := map[string]string{"idle": "/load", "stream": "/connects-stream"}[mode]
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: sensor\r\n\r\n", path)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		if mode == "idle" {
			io.Copy(io.Discard, res.Body)
		}
		return res.StatusCode == http.StatusOK
	case "half":
		fmt.Fprintf(c, "GET /load HTTP/1.1\r\nHost: sens")
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout()
	}
	return false
}

// timedGet GETs path on a fresh connection: "code,milliseconds" or
// "error,milliseconds".
func timedGet(addr, path string) string {
	start := time.Now()
	cl := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := cl.Get("http://" + addr + path)
	ms := time.Since(start).Milliseconds()
	if err != nil {
		return fmt.Sprintf("error,%d", ms)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return fmt.Sprintf("%d,%d", res.StatusCode, ms)
}

// runClient runs clientChild as uid and returns its result line; the
// child holds its connections until the test ends or release is called.
func runClient(t *testing.T, uid uint32, args ...string) (line string, release func()) {
	t.Helper()
	return testutil.RunAs(t, uid, reexec.Command(clientChildName, args...))
}

// holdCount runs a holding client and returns its count.
func holdCount(t *testing.T, uid uint32, mode, addr string, n int) int {
	t.Helper()
	line, _ := runClient(t, uid, mode, addr, strconv.Itoa(n))
	got, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("client uid %d %s: %q", uid, mode, line)
	}
	return got
}

// testSlices are slice UID ranges of this test run, far above the
// testbed's (below 4.05e9), one 65536-UID range per slice, and the
// SliceOfUID of them.
type testSlices struct{ base uint32 }

func newTestSlices() testSlices {
	return testSlices{base: 4_100_000_000 + uint32(os.Getpid()%300)*8*65536}
}

// uid is a UID of slice i.
func (s testSlices) uid(i int, user uint32) uint32 { return s.base + uint32(i)*65536 + 1000 + user }

func (s testSlices) sliceOf(uid uint32) (string, bool) {
	if uid < s.base || uid-s.base >= 8*65536 {
		return "", false
	}
	return fmt.Sprintf("pl_slice%d", (uid-s.base)/65536), true
}

// checkServed GETs /load and /slices as uid (root: from the test itself)
// and fails unless both answer 200 within a second.
func checkServed(t *testing.T, who string, uid uint32, addr string) {
	t.Helper()
	var got []string
	if uid == 0 {
		got = []string{timedGet(addr, "/load"), timedGet(addr, "/slices")}
	} else {
		line, _ := runClient(t, uid, "get", addr, "/load", "/slices")
		got = strings.Fields(line)
	}
	for i, g := range got {
		code, ms, _ := strings.Cut(g, ",")
		n, _ := strconv.Atoi(ms)
		if code != "200" || n > 1000 {
			t.Errorf("%s: %s answered %s in %s ms, want 200 within a second", who, []string{"/load", "/slices"}[i], code, ms)
		}
	}
	t.Logf("%s: /load and /slices (code,ms): %v", who, got)
}

// TestSliceCannotBlockSensors: a slice that floods the sensor server with
// idle keep-alive connections and half-sent requests, from several of its
// UIDs, holds no more than its own bound; another slice, a host user and
// the host's root still get /load and /slices at once.
func TestSliceCannotBlockSensors(t *testing.T) {
	testutil.RequireRoot(t)
	sl := newTestSlices()
	const perClient = 8
	_, base := startServer(t, Config{Slices: growingSlices(), MaxConnsPerClient: perClient, MaxConns: 64, SliceOfUID: sl.sliceOf})
	addr := strings.TrimPrefix(base, "http://")

	if got := holdCount(t, sl.uid(0, 1), "idle", addr, 3*perClient); got != perClient {
		t.Errorf("flooding slice, first UID: %d idle connections answered, want its bound %d", got, perClient)
	}
	if got := holdCount(t, sl.uid(0, 2), "half", addr, 3*perClient); got != 0 {
		t.Errorf("flooding slice, second UID: %d half-sent requests held, want 0 (the slice's bound is full)", got)
	}
	if got := holdCount(t, sl.uid(1, 1), "half", addr, 3*perClient); got != perClient {
		t.Errorf("another flooding slice: %d half-sent requests held, want its bound %d", got, perClient)
	}
	checkServed(t, "another slice", sl.uid(2, 1), addr)
	checkServed(t, "a host user", 65534, addr)
	checkServed(t, "the host's root", 0, addr)
}

// TestTotalBoundSparesRoot: when slices together hold every connection
// the server allows, a new client is refused but the host's root is still
// served.
func TestTotalBoundSparesRoot(t *testing.T) {
	testutil.RequireRoot(t)
	sl := newTestSlices()
	_, base := startServer(t, Config{Slices: growingSlices(), MaxConnsPerClient: 4, MaxConns: 8, SliceOfUID: sl.sliceOf})
	addr := strings.TrimPrefix(base, "http://")
	for i := range 2 {
		if got := holdCount(t, sl.uid(i, 1), "idle", addr, 4); got != 4 {
			t.Fatalf("slice %d: %d connections answered, want 4", i, got)
		}
	}
	if got := holdCount(t, sl.uid(2, 1), "idle", addr, 1); got != 0 {
		t.Errorf("a third slice past the total bound: %d answered, want 0", got)
	}
	checkServed(t, "the host's root", 0, addr)
}

// TestStreamsPerClient: a slice holds at most its own share of the
// streams; another slice still gets one.
func TestStreamsPerClient(t *testing.T) {
	testutil.RequireRoot(t)
	sl := newTestSlices()
	ev := &FakeEvents{}
	s, base := startServer(t, Config{Connects: ev, MaxStreams: 8, MaxStreamsPerClient: 3, SliceOfUID: sl.sliceOf})
	addr := strings.TrimPrefix(base, "http://")
	if got := holdCount(t, sl.uid(0, 1), "stream", addr, 6); got != 3 {
		t.Errorf("one slice: %d of 6 streams served, want 3", got)
	}
	if got := holdCount(t, sl.uid(1, 1), "stream", addr, 1); got != 1 {
		t.Errorf("another slice: %d of 1 stream served, want 1", got)
	}
	if n := s.streams.count(); n != 4 {
		t.Errorf("%d streams served, want 4", n)
	}
}
