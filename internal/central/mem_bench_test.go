package central_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/orbisproject/orbis/api"
	"github.com/orbisproject/orbis/internal/central"
	"github.com/orbisproject/orbis/internal/central/xmlrpc"
	"github.com/orbisproject/orbis/internal/reexec"
)

// Sizes of BenchmarkMemory: go test -bench Memory -benchtime 1x
// ./internal/central/ -args -nodes 1000 -slices 10000 -follow 0.
//
// By default only 200 of the nodes follow their lists: with 100,000
// slices central computes about 8 lists a second (each node's list query
// scans every slice), so 10,000 nodes would take over 20 minutes.
var (
	memNodes  = flag.Int("nodes", 10000, "BenchmarkMemory: how many nodes")
	memSlices = flag.Int("slices", 100000, "BenchmarkMemory: how many slices (each on 10 nodes)")
	memFollow = flag.Int("follow", 200, "BenchmarkMemory: how many of the nodes fetch their list and long-poll (0: all)")
)

// BenchmarkMemory measures central's memory on SQLite with -nodes nodes
// and -slices slices (each on 10 nodes, 100 sites), loaded straight
// through the store. Then -follow of the nodes fetch their sliver lists
// once, a few GetSlices calls are made, the same nodes hold a long-poll
// open (as nodes do all the time), and finally one GetSlices of every
// slice, before the long-polls' period ends. The nodes are a child
// process, so that their side of the connections is not counted. Heap is HeapInuse after a GC; RSS is VmRSS after returning
// freed memory to the system; peak is VmHWM.
func BenchmarkMemory(b *testing.B) {
	if b.N > 1 {
		b.Skip("one run is the measurement: use -benchtime 1x")
	}
	base := readMem()
	tc := startCentralWith(b, central.Config{Log: benchLog()})
	spec := worldSpec{sites: min(100, *memNodes), nodes: *memNodes, slices: *memSlices, perSlice: min(10, *memNodes)}
	t0 := time.Now()
	w := loadWorld(b, tc.c.Store, spec)
	b.ReportMetric(time.Since(t0).Seconds(), "load-s")
	loaded := readMem()

	follow := following(w, *memFollow)
	nodes := startNodeClients(b, tc.url, w, follow)
	fetch, slivers := nodes.fetched(b)
	b.ReportMetric(float64(len(follow))/fetch.Seconds(), "lists/s")
	if want := w.slivers(follow); slivers != want {
		b.Errorf("the nodes' lists hold %d slivers, want %d", slivers, want)
	}
	clients, auth := sessionClients(b, tc)
	rpc := clients[0]
	for i := range 100 {
		getSlices(b, rpc, auth, []any{w.names[i*len(w.names)/100]})
	}
	for _, id := range w.siteIDs[:min(10, len(w.siteIDs))] {
		getSlices(b, rpc, auth, map[string]any{"site_id": id})
	}
	listed := readMem()

	goroutines := runtime.NumGoroutine()
	nodes.poll(b, goroutines+len(follow))
	polling := readMem()
	writeHeapProfile(b)

	t1 := time.Now()
	size := getSlices(b, rpc, auth)
	all := time.Since(t1)
	peak := readMem()

	db := fileSize(filepath.Join(tc.dir, "central.db")) + fileSize(filepath.Join(tc.dir, "central.db-wal"))
	b.Logf("nodes %d (%d following), slices %d, slivers %d listed; lists in %.1f s; GetSlices of all: %d MiB of XML in %.1f s",
		spec.nodes, len(follow), spec.slices, slivers, fetch.Seconds(), size>>20, all.Seconds())
	b.Logf("%-40s %10s %10s %10s", "stage", "heap MiB", "RSS MiB", "peak MiB")
	for _, s := range []struct {
		name string
		m    memStats
	}{{"before central", base}, {"loaded", loaded}, {"lists fetched, GetSlices by name/site", listed},
		{fmt.Sprintf("%d long-polls waiting", len(follow)), polling}, {"after GetSlices of all", peak}} {
		b.Logf("%-40s %10.1f %10.1f %10.1f", s.name, mib(s.m.heap), mib(s.m.rss), mib(s.m.hwm))
	}
	b.ReportMetric(mib(polling.heap), "heap-MiB")
	b.ReportMetric(mib(polling.rss), "rss-MiB")
	b.ReportMetric(mib(peak.hwm), "peak-rss-MiB")
	b.ReportMetric(mib(db), "db-MiB")
	b.ReportMetric(all.Seconds(), "getslices-all-s")
}

// following returns the indexes of n nodes of w spread over all of them
// (all of them for n 0).
func following(w *world, n int) []int {
	if n <= 0 || n > len(w.nodeIDs) {
		n = len(w.nodeIDs)
	}
	out := make([]int, n)
	for i := range out {
		out[i] = i * len(w.nodeIDs) / n
	}
	return out
}

// slivers counts the slivers of the nodes of w whose indexes are nodes.
func (w *world) slivers(nodes []int) int {
	per := make([]int, len(w.nodeIDs))
	for i := range w.names {
		for _, n := range w.sliceNodes(i) {
			per[n]++
		}
	}
	sum := 0
	for _, n := range nodes {
		sum += per[n]
	}
	return sum
}

// getSlices calls GetSlices with args and returns the size of the answer,
// which it reads and drops (decoding it would count the client's memory).
func getSlices(b *testing.B, rpc *xmlrpc.Client, auth map[string]any, args ...any) int64 {
	body, err := xmlrpc.EncodeCall("GetSlices", append([]any{auth}, args...)...)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := rpc.HTTP.Post(rpc.URL, "text/xml", bytes.NewReader(body))
	if err != nil {
		b.Fatalf("GetSlices: %v", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GetSlices: %s, %v", resp.Status, err)
	}
	return n
}

// writeHeapProfile writes the heap profile to $ORBIS_BENCH_HEAP, if set.
func writeHeapProfile(b *testing.B) {
	path := os.Getenv("ORBIS_BENCH_HEAP")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err == nil {
		err = errors.Join(pprof.WriteHeapProfile(f), f.Close())
	}
	if err != nil {
		b.Errorf("heap profile: %v", err)
	}
}

type memStats struct{ heap, rss, hwm uint64 }

// readMem collects garbage, returns freed memory to the system and reads
// the heap in use and the process's resident and peak resident size.
func readMem() memStats {
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return memStats{heap: m.HeapInuse, rss: procStatus("VmRSS"), hwm: procStatus("VmHWM")}
}

// procStatus reads a size in kB from /proc/self/status, in bytes.
func procStatus(field string) uint64 {
	data, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func fileSize(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return uint64(fi.Size())
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// nodeClientsEntry is the hidden entry point of the child that plays the
// nodes.
const nodeClientsEntry = "orbistest-central-nodes"

func init() { reexec.Register(nodeClientsEntry, nodeClientsMain) }

// nodeClients is the child process playing the nodes.
type nodeClients struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startNodeClients starts the child for the nodes of w whose indexes are
// follow, at central url; it is killed when the benchmark ends.
func startNodeClients(b *testing.B, url string, w *world, follow []int) *nodeClients {
	list := filepath.Join(b.TempDir(), "nodes")
	var buf bytes.Buffer
	for _, i := range follow {
		fmt.Fprintf(&buf, "%d %s\n", w.nodeIDs[i], w.secrets[i])
	}
	if err := os.WriteFile(list, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := reexec.Command(nodeClientsEntry, url, list)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &nodeClients{in: in, out: bufio.NewScanner(out)}
}

// fetched waits until every node has fetched its list once and returns
// how long that took and how many slivers the lists held.
func (c *nodeClients) fetched(b *testing.B) (time.Duration, int) {
	var secs float64
	var slivers int
	if !c.out.Scan() {
		b.Fatal("node clients ended")
	}
	if _, err := fmt.Sscanf(c.out.Text(), "fetched %g %d", &secs, &slivers); err != nil {
		b.Fatalf("node clients: %q: %v", c.out.Text(), err)
	}
	return time.Duration(secs * float64(time.Second)), slivers
}

// poll has every node open its long-poll, and returns once this process
// runs at least goroutines goroutines (one per request) and is idle (each
// request computes the node's list before it waits).
func (c *nodeClients) poll(b *testing.B, goroutines int) {
	fmt.Fprintln(c.in, "poll")
	if !c.out.Scan() || c.out.Text() != "polling" {
		b.Fatalf("node clients: %q", c.out.Text())
	}
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() < goroutines {
		if time.Now().After(deadline) {
			b.Fatalf("only %d goroutines, want %d", runtime.NumGoroutine(), goroutines)
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitIdle(b)
}

// waitIdle returns once this process uses less than a tenth of a CPU.
func waitIdle(b *testing.B) {
	const window = 500 * time.Millisecond
	for start := time.Now(); time.Since(start) < time.Minute; {
		t0 := cpuTime()
		time.Sleep(window)
		if cpuTime()-t0 < window/10 {
			return
		}
	}
	b.Log("central still busy after a minute")
}

// cpuTime is the user and system time this process used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// nodeClientsMain runs in the child: it reads the nodes of os.Args[2],
// has each fetch its list of central os.Args[1] once (8 at a time) and
// prints "fetched SECONDS SLIVERS"; on "poll" from stdin, has each follow
// its list by long-poll for ever, and prints "polling" once every request
// is sent.
func nodeClientsMain() {
	clients, err := readNodeClients(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	versions := make([]int64, len(clients))
	var slivers atomic.Int64
	t0 := time.Now()
	forEach(len(clients), 8, func(i int) {
		l, err := clients[i].Slivers(context.Background(), -1)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		versions[i] = l.Version
		slivers.Add(int64(len(l.Slivers)))
	})
	fmt.Printf("fetched %g %d\n", time.Since(t0).Seconds(), slivers.Load())
	if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); line != "poll\n" {
		os.Exit(0)
	}
	for i, c := range clients {
		go func() {
			v := versions[i]
			for {
				if l, err := c.Slivers(context.Background(), v); err == nil {
					v = l.Version
				} else {
					time.Sleep(time.Second)
				}
			}
		}()
		if i%200 == 199 {
			time.Sleep(20 * time.Millisecond) // stay within the listen backlog
		}
	}
	fmt.Println("polling")
	select {}
}

// readNodeClients reads "id secret" lines and returns a client per node,
// all on one transport with a connection per waiting request.
func readNodeClients(url, path string) ([]*api.NodeClient, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1 << 16, IdleConnTimeout: time.Minute}}
	var out []*api.NodeClient
	for line := range strings.Lines(string(data)) {
		var id int64
		var secret string
		if _, err := fmt.Sscan(line, &id, &secret); err != nil {
			return nil, fmt.Errorf("node list: %q: %w", line, err)
		}
		out = append(out, api.NewNodeClient(url, id, secret, hc))
	}
	return out, nil
}

// forEach runs fn(0..n-1) on workers goroutines.
func forEach(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}
